package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-anaplan/anaplan"
	"github.com/google/go-cmp/cmp"
)

func TestHoistAndParse(t *testing.T) {
	tests := []struct {
		args []string
		cmd  string
		pos  []string
		o    opts
	}{
		{[]string{"files", "--model", "M"}, "files", nil, opts{model: "M"}},
		{[]string{"--model", "M", "--json", "files"}, "files", nil, opts{model: "M", json: true}},
		{[]string{"--model=files", "imports"}, "imports", nil, opts{model: "files"}},
		{[]string{"--workspace", "upload", "upload", "a.csv", "--gzip"}, "upload", []string{"a.csv"}, opts{workspace: "upload", gzip: true}},
		{[]string{"upload", "--gzip", "a.csv", "--file", "F"}, "upload", []string{"a.csv"}, opts{gzip: true, file: "F"}},
		{[]string{"upload", "--", "-odd.csv"}, "upload", []string{"-odd.csv"}, opts{}},
		{[]string{"upload", "-"}, "upload", []string{"-"}, opts{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := hoistCommand(tt.args)
			if args[0] != tt.cmd {
				t.Fatalf("command %q, want %q", args[0], tt.cmd)
			}
			var o opts
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			addFlags(fs, &command{uses: useConn | useJSON | useWorkspace | useModel}, &o)
			fs.BoolVar(&o.gzip, "gzip", false, "")
			fs.StringVar(&o.file, "file", "", "")
			pos, err := parseInterspersed(fs, args[1:])
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.pos, pos); d != "" {
				t.Errorf("arguments (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.o, o, cmp.AllowUnexported(opts{})); d != "" {
				t.Errorf("flags (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzHoist checks that moving the command to the front never loses or
// invents an argument.
func FuzzHoist(f *testing.F) {
	f.Add("files\x00--model\x00M")
	f.Add("--model\x00M\x00files")
	f.Add("--\x00files")
	f.Add("--model")
	f.Add("")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		got := hoistCommand(slices.Clone(args))
		a, b := slices.Clone(args), slices.Clone(got)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("hoistCommand(%q) = %q", args, got)
		}
	})
}

// FuzzJoinConnectionString checks that login writes back exactly the
// properties it read.
func FuzzJoinConnectionString(f *testing.F) {
	f.Add("AuthScheme=OAuth;OAuthClientId=abc;OAuthSettingsLocation='C:\\a b;c'")
	f.Add(`AuthScheme=OAuth;Scope="openid ""x"" y";OAuthClientSecret=s`)
	f.Add("User=ada;Password=p'w;")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := anaplan.ParseConnectionString(s)
		if err != nil {
			return
		}
		back, err := anaplan.ParseConnectionString(joinConnectionString(m))
		if err != nil {
			t.Fatalf("the joined string does not parse: %v", err)
		}
		if d := cmp.Diff(m, back); d != "" {
			t.Fatalf("round trip (-want +got):\n%s", d)
		}
	})
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, []string{"ID", "NAME"}, [][]string{{"1", "a\tb\nc"}, {"22", ""}}); err != nil {
		t.Fatal(err)
	}
	want := "ID  NAME\n1   a b c\n22  -\n"
	if b.String() != want {
		t.Errorf("table %q, want %q", b.String(), want)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sales.csv", "Sales.csv"},
		{"Ventes été.csv", "Ventes été.csv"},
		{"\x1b]0;pwned\x07evil.csv", " ]0;pwned evil.csv"},
		{"red\x1b[31mtext", "red [31mtext"},
		{"csi\u009b31m", "csi 31m"},
		{"a\u202egnp.exe", "a gnp.exe"},
		{"bad\xffutf8", "bad utf8"},
		{"replacement \uFFFD kept", "replacement \uFFFD kept"},
		{"line\nbreak\r\tdel\x7f", "line break  del "},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var b bytes.Buffer
	if err := writeTable(&b, []string{"ID", "NAME"}, [][]string{{"1", "\x1b[2J\x1b[Hcleared"}}); err != nil {
		t.Fatal(err)
	}
	if want := "ID  NAME\n1   [2J [Hcleared\n"; b.String() != want {
		t.Errorf("table %q, want %q", b.String(), want)
	}
}

// FuzzClean checks that nothing a terminal would act on survives clean.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31m", "\u009b", "\u202e", "\xff\xfe", "\uFFFD", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := clean(s)
		if !utf8.ValidString(got) {
			t.Fatalf("clean(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if unsafeRune(r) {
				t.Fatalf("clean(%q) = %q keeps %U", s, got, r)
			}
		}
	})
}

func TestScrubArgs(t *testing.T) {
	conn := "AuthScheme=Basic;User=u;Password=s3cret"
	args := []string{"--conection", conn, "--model=" + conn, "whoami", "--json"}
	for _, msg := range []string{
		"unknown " + conn,
		"invalid value " + strconv.Quote(conn) + " for flag -model",
	} {
		if got := scrubArgs(msg, args); strings.Contains(got, "s3cret") || !strings.Contains(got, "not shown") {
			t.Errorf("scrubArgs(%q) = %q", msg, got)
		}
	}
	if got := scrubArgs("whoami --json model", args); got != "whoami --json model" {
		t.Errorf("scrubArgs changed harmless text: %q", got)
	}
}

func TestNearestCommand(t *testing.T) {
	for in, want := range map[string]string{"whoamii": "whoami", "Uplaod": "upload", "file": "files", "frobnicate": "", "": ""} {
		if got := nearestCommand(in); got != want {
			t.Errorf("nearestCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInterruptibleReader(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := &interruptibleReader{ctx: ctx, r: pr}
	go func() { _, _ = pw.Write([]byte("abc")) }()
	p := make([]byte, 8)
	if n, err := r.Read(p); err != nil || string(p[:n]) != "abc" {
		t.Fatalf("Read = %q, %v", p[:n], err)
	}
	got := make(chan error, 1)
	go func() { _, err := r.Read(p); got <- err }() // blocks: the pipe is silent
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v, want context.Canceled", err)
	}
	if _, err := r.Read(p); !errors.Is(err, context.Canceled) {
		t.Errorf("a later Read: %v, want context.Canceled", err)
	}
	_ = pr.Close() // ends the abandoned read
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	tests := []struct {
		p    anaplan.Progress
		want string
	}{
		{anaplan.Progress{Bytes: 512, TotalBytes: 1024, Chunks: 1, TotalChunks: -1}, "up [###############...............]  50% 512 B / 1.0 KiB"},
		{anaplan.Progress{Bytes: 3 << 20, TotalBytes: -1, Chunks: 3, TotalChunks: 4}, "up [#######################.......]  75% 3.0 MiB"},
		{anaplan.Progress{Bytes: 3 << 20, TotalBytes: -1, Chunks: 3, TotalChunks: -1}, "up 3.0 MiB, 3 chunks"},
	}
	for _, tt := range tests {
		if got := renderTransfer("up", tt.p); got != tt.want {
			t.Errorf("renderTransfer(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
	if got := renderTask("import X", anaplan.Task{State: anaplan.TaskInProgress, Progress: 0.1}); got != "import X [###...........................]  10% in progress" {
		t.Errorf("renderTask = %q", got)
	}

	t.Run("throttled, final always drawn, nothing without a terminal", func(t *testing.T) {
		var out bytes.Buffer
		now := time.Unix(0, 0)
		a := &app{env: env{stderr: &out, terminal: true}}
		b := a.progress("x")
		b.now = func() time.Time { return now }
		b.transfer(anaplan.Progress{Bytes: 1, TotalBytes: 10, TotalChunks: -1})
		now = now.Add(10 * time.Millisecond)
		b.transfer(anaplan.Progress{Bytes: 2, TotalBytes: 10, TotalChunks: -1}) // too soon
		now = now.Add(time.Second)
		b.transfer(anaplan.Progress{Bytes: 3, TotalBytes: 10, TotalChunks: -1})
		b.task(anaplan.Task{State: anaplan.TaskComplete, Progress: 1}) // final: drawn at once
		b.done()
		if n := strings.Count(out.String(), "\r"); n != 3 {
			t.Errorf("%d redraws, want 3: %q", n, out.String())
		}
		if !strings.HasSuffix(out.String(), "100% complete\n") {
			t.Errorf("output %q", out.String())
		}

		out.Reset()
		a.terminal = false
		b = a.progress("x")
		b.transfer(anaplan.Progress{Bytes: 1, TotalBytes: 10})
		b.done()
		if out.Len() != 0 {
			t.Errorf("drew %q without a terminal", out.String())
		}
	})
}

func TestSafeNameAndQuote(t *testing.T) {
	for in, want := range map[string]string{"a.csv": "a.csv", "../../etc/passwd": "passwd", `C:\x\y.csv`: "y.csv", "..": "ID", "": "ID", "/": "ID",
		"a\x1b]0;pwned\x07.csv": "a_]0;pwned_.csv", "line\nbreak\r.csv": "line_break_.csv", "evil\u202egnp.csv": "evil_gnp.csv",
		"bad\xffutf8": "bad_utf8", "\x00": "ID", "tab\there": "tab_here", "..\x1b": "ID"} {
		if got := safeName(in, "ID"); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"files": "files", "Load sales": "'Load sales'", "it's": `'it'\''s'`, "": "''"} {
		if got := quoteArg(in); got != want {
			t.Errorf("quoteArg(%q) = %q, want %q", in, got, want)
		}
	}
}
