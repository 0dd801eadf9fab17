package etcdstore_test

import (
	"os"
	"sync"
	"testing"
)

// One cluster serves the unit tests; the soak starts its own, since it kills
// members.
var shared struct {
	once sync.Once
	dir  string
	c    *cluster
	err  string
}

func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "etcdstore-test-")
		if err != nil {
			shared.err = err.Error()
			return
		}
		shared.dir = dir
		shared.c = startCluster(t, dir)
	})
	if shared.c == nil {
		t.Fatalf("no etcd cluster: %s", shared.err)
	}
	return shared.c
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.stopAll()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
