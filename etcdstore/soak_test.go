package etcdstore_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/go-anaplan/anaplan/etcdstore"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The soak's workers are this test binary run again with workerEnv set; they
// find everything else in the environment too.
const (
	workerEnv      = "ETCDSTORE_SOAK_WORKER"
	soakClientID   = "fleet-client"
	soakSecret     = "fleet-secret"
	soakUser       = "fleet.user@example.com"
	soakTokenTTL   = 2 * time.Second
	soakLeaseTTL   = 4 * time.Second
	soakWorkers    = 8
	soakCallPeriod = 20 * time.Millisecond
)

// TestFleetWorker is one machine of the fleet: it uses the shared identity
// through the etcd store until its end time, printing "OK" after each call
// that worked and "ERR …" after each that did not.
func TestFleetWorker(t *testing.T) {
	if os.Getenv(workerEnv) == "" {
		t.Skip("runs only as a worker of TestFleetSoak")
	}
	end, _ := strconv.ParseInt(os.Getenv("SOAK_END"), 10, 64)
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Getenv("SOAK_ETCD"), ","),
		DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	store := etcdstore.New(cli, os.Getenv("SOAK_KEY"), anaplan.SettingsKey(soakClientID, soakSecret),
		etcdstore.WithLeaseTTL(soakLeaseTTL))
	defer store.Close()
	pem, err := os.ReadFile(os.Getenv("SOAK_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := os.Getenv("SOAK_URL")
	eps := anaplan.Endpoints{Auth: base, API: base + "/2/0", OAuth: anaplan.OAuthEndpoint(base)}
	ctx := context.Background()
	var c *anaplan.Client
	for time.Now().UnixNano() < end {
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err = anaplan.New(nctx, anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: soakClientID, ClientSecret: soakSecret,
			Initiate: anaplan.InitiateRefresh}), anaplan.WithSettingsStore(store), anaplan.WithEndpoints(eps), anaplan.WithHTTPClient(hc))
		cancel()
		if err == nil {
			break
		}
		fmt.Printf("ERR new: %v\n", err)
		time.Sleep(soakCallPeriod)
	}
	if c == nil {
		return
	}
	defer c.Close(ctx)
	call := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(cctx, http.MethodGet, eps.API+"/users/me", nil)
		if err != nil {
			return err
		}
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return anaplan.CheckResponse(resp)
	}
	for time.Now().UnixNano() < end {
		if err := call(); err != nil {
			fmt.Printf("ERR %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Println("OK")
		}
		time.Sleep(soakCallPeriod)
	}
}

// worker is one slot of the fleet; a killed worker is replaced in its slot.
type worker struct {
	cmd     *exec.Cmd
	done    chan struct{}
	lastOK  time.Time
	oks     []time.Time // every success, in order
	since   time.Time   // start of the current stall measurement
	paused  bool        // SIGSTOPped, or killed and not yet replaced
	errs    int
	lastErr string
}

type fleet struct {
	t      *testing.T
	env    []string
	began  time.Time
	end    time.Time
	mu     sync.Mutex
	ws     [soakWorkers]*worker
	okAll  int
	errAll int
	// longest gap between two successes of a running worker
	stall     time.Duration
	stallWhat string
}

func (f *fleet) start(i int) {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), f.env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	w := &worker{cmd: cmd, done: make(chan struct{}), since: time.Now()}
	f.mu.Lock()
	f.ws[i] = w
	f.mu.Unlock()
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			now := time.Now()
			f.mu.Lock()
			switch {
			case line == "OK":
				if gap := now.Sub(w.since); !w.paused && gap > f.stall {
					f.stall, f.stallWhat = gap, fmt.Sprintf("worker %d, from %.1fs into the soak", i, w.since.Sub(f.began).Seconds())
				}
				w.lastOK, w.since = now, now
				w.oks = append(w.oks, now)
				f.okAll++
			case os.Getenv("SOAK_DEBUG") != "":
				fmt.Printf("%.1fs w%d: %s\n", now.Sub(f.began).Seconds(), i, line)
				fallthrough
			case strings.HasPrefix(line, "ERR"):
				w.errs++
				f.errAll++
				w.lastErr = line
			}
			f.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
}

// pidSlot finds the slot of a running worker by its pid.
func (f *fleet) pidSlot(pid int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, w := range f.ws {
		if w != nil && w.cmd.Process.Pid == pid {
			return i
		}
	}
	return -1
}

func (f *fleet) setPaused(i int, p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ws[i].paused = p
	if !p {
		f.ws[i].since = time.Now()
	}
}

// progressAfter waits until every running worker succeeded after t, for at
// most limit, and returns the longest wait and the laggards.
func (f *fleet) progressAfter(t time.Time, limit time.Duration) (time.Duration, []string) {
	deadline := t.Add(limit)
	for {
		var late []string
		var longest time.Duration
		f.mu.Lock()
		for i, w := range f.ws {
			if w.paused {
				continue
			}
			j, _ := slices.BinarySearchFunc(w.oks, t, func(a, b time.Time) int { return a.Compare(b) })
			for j < len(w.oks) && !w.oks[j].After(t) {
				j++
			}
			if j < len(w.oks) {
				longest = max(longest, w.oks[j].Sub(t))
			} else {
				late = append(late, fmt.Sprintf("worker %d (last error: %s)", i, w.lastErr))
			}
		}
		f.mu.Unlock()
		if len(late) == 0 && longest <= limit {
			return longest, nil
		}
		if time.Now().After(deadline) {
			if len(late) == 0 {
				late = []string{fmt.Sprintf("the last worker after %v", longest)}
			}
			return max(limit, longest), late
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Eight processes share one rotating identity through the etcd store while
// the etcd leader is killed and restarted, a worker holding the lock is
// stopped past its lease and continued, and workers are killed at random and
// replaced. No refresh token may be presented twice, no grant revoked, and
// every worker must work again within one lease time after each fault.
func TestFleetSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process soak")
	}
	dur := 30 * time.Second
	if v := os.Getenv("ANAPLAN_SOAK"); v != "" {
		dur = 5 * time.Minute
		if d, err := time.ParseDuration(v); err == nil {
			dur = d
		}
	}
	c := startCluster(t, t.TempDir())
	defer c.stopAll()
	cli := c.client(t)

	srv := anaplantest.New(t)
	srv.SetAccessTokenTTL(soakTokenTTL)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: soakClientID, Secret: soakSecret, Rotating: true})
	stopClock := make(chan struct{})
	var clockDone sync.WaitGroup
	clockDone.Add(1)
	go func() { // the workers use real time: keep the fake's clock on it
		defer clockDone.Done()
		for {
			srv.SetNow(time.Now())
			select {
			case <-stopClock:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stopClock); clockDone.Wait() }()

	// The fleet starts from a settings file, as made on a laptop.
	ctx := context.Background()
	seal := anaplan.SettingsKey(soakClientID, soakSecret)
	_, refresh, _ := srv.IssueOAuthTokens(soakClientID, soakUser)
	laptop := anaplan.NewFileStore(filepath.Join(t.TempDir(), "settings"), seal)
	if err := laptop.Save(ctx, &anaplan.Settings{RefreshToken: refresh, ClientID: soakClientID}); err != nil {
		t.Fatal(err)
	}
	key := "/fleet/anaplan/oauth"
	seed := etcdstore.New(cli, key, seal)
	if err := seed.CopyFrom(ctx, laptop); err != nil {
		t.Fatal(err)
	}
	seed.Close()
	ca := filepath.Join(t.TempDir(), "fake-ca.pem")
	if err := os.WriteFile(ca, srv.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f := &fleet{t: t, began: start, end: start.Add(dur)}
	f.env = []string{workerEnv + "=1", "SOAK_ETCD=" + strings.Join(c.endpoints(), ","), "SOAK_KEY=" + key,
		"SOAK_URL=" + srv.URL(), "SOAK_CA=" + ca, "SOAK_END=" + strconv.FormatInt(f.end.Add(2*time.Second).UnixNano(), 10)}
	for i := range soakWorkers {
		f.start(i)
	}
	defer func() {
		for _, w := range f.ws {
			_ = w.cmd.Process.Signal(syscall.SIGCONT)
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}()
	if late, slow := f.progressAfter(start, 20*time.Second); slow != nil {
		t.Fatalf("the fleet did not start within %v: %v", late, slow)
	}
	f.mu.Lock() // stalls count from here on, not from the start of the processes
	for _, w := range f.ws {
		w.since = time.Now()
	}
	f.stall, f.stallWhat = 0, ""
	f.mu.Unlock()

	type fault struct {
		kind  string
		wait  time.Duration // until every worker worked again
		late  []string
		extra string
	}
	var faults []fault
	counts := map[string]int{}
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 7))
	kinds := []string{"leader", "sigkill", "sigstop", "sigkill"}
	// Progress is due within one lease time of a fault, plus etcd's lease
	// expiry check period (500 ms) and a second for what follows on a
	// shared machine of two cores (the waiter's wake-up, the pre-flight, the
	// refresh, the save and the call): a dead holder's lock lasts its lease,
	// no less.
	limit := soakLeaseTTL + 1500*time.Millisecond
	check := func(kind, extra string, from time.Time) {
		wait, late := f.progressAfter(from, limit)
		faults = append(faults, fault{kind: kind, wait: wait, late: late, extra: extra})
		if late != nil {
			t.Errorf("after %s (%s): no progress within %v: %v", kind, extra, limit, late)
		}
	}
	for n := 0; time.Now().Add(7 * time.Second).Before(f.end); n++ {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		kind := kinds[n%len(kinds)]
		switch kind {
		case "leader":
			l := c.leader()
			if l < 0 {
				continue
			}
			from := time.Now()
			c.kill(l)
			time.Sleep(1500 * time.Millisecond)
			if err := c.start(l); err != nil {
				t.Fatalf("restarting etcd member %d: %v", l, err)
			}
			check(kind, fmt.Sprintf("member %d at %.1fs, down 1.5s", l, from.Sub(start).Seconds()), from)
		case "sigstop":
			slot, held, err := stopHolder(ctx, cli, key, f)
			if err != nil {
				t.Logf("sigstop: %v", err)
				continue
			}
			stopped := time.Now()
			// The others take over once its lease expires...
			check(kind, fmt.Sprintf("the others, worker %d stopped", slot), stopped)
			// ...and it stays stopped past its lease.
			time.Sleep(time.Until(stopped.Add(soakLeaseTTL + time.Second)))
			gone := false
			if r, err := cli.Get(ctx, held); err == nil && len(r.Kvs) == 0 {
				gone = true
			}
			if !gone {
				t.Errorf("worker %d stopped %v but its lock key (lease %v) is still there", slot, soakLeaseTTL+time.Second, soakLeaseTTL)
			}
			_ = f.ws[slot].cmd.Process.Signal(syscall.SIGCONT)
			f.setPaused(slot, false)
			check("sigcont", fmt.Sprintf("worker %d continued", slot), time.Now())
		case "sigkill":
			i := rng.IntN(soakWorkers)
			w := f.ws[i]
			f.setPaused(i, true)
			from := time.Now()
			_ = w.cmd.Process.Kill()
			<-w.done
			f.start(i)
			check(kind, fmt.Sprintf("worker %d, replaced", i), from)
		}
		counts[kind]++
	}
	time.Sleep(time.Until(f.end))

	uses := srv.RefreshTokenUses()
	twice := 0
	for _, n := range uses {
		if n > 1 {
			twice++
		}
	}
	var longestAfter time.Duration
	for _, fl := range faults {
		longestAfter = max(longestAfter, fl.wait)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Logf("fleet soak: %v, %d workers, %v tokens, %v lease: %d refreshes, %d calls ok, %d failed; faults: %d leader kills, %d SIGSTOPs of the lock holder, %d SIGKILLs; "+
		"longest wait for progress after a fault %v; longest stall of a running worker %v (%s); grants revoked %d; refresh tokens used twice %d",
		dur, soakWorkers, soakTokenTTL, soakLeaseTTL, len(uses), f.okAll, f.errAll, counts["leader"], counts["sigstop"], counts["sigkill"],
		longestAfter, f.stall, f.stallWhat, srv.GrantRevocations(), twice)
	for _, fl := range faults {
		t.Logf("  %-8s %-36s every worker progressed after %v", fl.kind, fl.extra, fl.wait)
	}
	if f.stall > limit {
		t.Errorf("a running worker stalled %v (%s), more than one lease time and the slack (%v)", f.stall, f.stallWhat, limit)
	}
	if r := srv.GrantRevocations(); r != 0 {
		t.Errorf("%d grants revoked", r)
	}
	if twice != 0 {
		t.Errorf("%d refresh tokens presented more than once", twice)
	}
	if len(uses) < 5 {
		t.Errorf("only %d refreshes: the soak did not exercise rotation", len(uses))
	}
	if counts["leader"] == 0 || counts["sigstop"] == 0 || counts["sigkill"] == 0 {
		t.Errorf("not every kind of fault ran: %v", counts)
	}
}

// stopHolder waits for a worker to hold the lock (the oldest key under the
// lock prefix), SIGSTOPs it while it still holds it, and returns its slot and
// lock key.
func stopHolder(ctx context.Context, cli *clientv3.Client, key string, f *fleet) (int, string, error) {
	first := func() *mvccpb.KeyValue {
		r, err := cli.Get(ctx, key+"/.lock/", append([]clientv3.OpOption{clientv3.WithPrefix()}, clientv3.WithFirstCreate()...)...)
		if err != nil || len(r.Kvs) == 0 {
			return nil
		}
		return r.Kvs[0]
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		kv := first()
		if kv == nil {
			continue
		}
		_, pidText, ok := strings.Cut(string(kv.Value), " pid ")
		if !ok {
			continue
		}
		pid, _ := strconv.Atoi(pidText)
		slot := f.pidSlot(pid)
		if slot < 0 {
			continue
		}
		f.setPaused(slot, true)
		_ = f.ws[slot].cmd.Process.Signal(syscall.SIGSTOP)
		// Still the holder? (It may have released before the signal.)
		if now := first(); now != nil && string(now.Key) == string(kv.Key) && now.CreateRevision == kv.CreateRevision {
			return slot, string(kv.Key), nil
		}
		_ = f.ws[slot].cmd.Process.Signal(syscall.SIGCONT)
		f.setPaused(slot, false)
	}
	return -1, "", fmt.Errorf("caught no worker holding the lock within 10s")
}
