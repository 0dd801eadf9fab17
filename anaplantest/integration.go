package anaplantest

import "net/http"

// registerIntegration adds the Integration API routes beyond /2/0/users/me.
// (Another file will replace this one with workspaces, models, files and tasks.)
func (s *Server) registerIntegration(mux *http.ServeMux) {}
