package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-anaplan/anaplan"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrLockLost is matched (errors.Is) by the errors of PrepareSpend and Save
// when this Store no longer holds the lock it was asked to take (its lease
// expired during a pause or a partition, or its lock key was deleted), or,
// for Save, when the spend it prepared was fenced off. Nothing was written;
// the SDK keeps its tokens in memory and retries under a new lock.
var ErrLockLost = errors.New("etcdstore: the lock on the settings was lost (its lease expired or its key was deleted)")

// ErrSpendPending is matched (errors.Is) by the error of PrepareSpend when a
// spend of the stored refresh token was prepared and its result has not been
// saved: another holder lost its lock with its request in flight, or a Save
// after a spend failed (here or elsewhere). The result may still land.
// Nothing may be spent until it lands or its fence expires (at most twice the
// lease TTL after it was set); try again later.
var ErrSpendPending = errors.New("etcdstore: another holder's spend of the stored refresh token may still land")

// ErrStale is matched (errors.Is) by the error of PrepareSpend when the
// settings changed after they were read under this lock (a holder that had
// lost the lock landed its result late), or were not read under it at all:
// read them again and spend what they hold now.
var ErrStale = errors.New("etcdstore: the settings changed since they were read under this lock")

// ErrSettingsExist is matched (errors.Is) by the error of CopyFrom when the
// etcd key already holds settings.
var ErrSettingsExist = errors.New("etcdstore: the etcd key already holds settings")

// ErrClosed is matched (errors.Is) by the errors of a closed Store.
var ErrClosed = errors.New("etcdstore: the store is closed")

// Defaults of the options.
const (
	// DefaultLeaseTTL is the lease of the lock: how long a holder that
	// stopped (crashed, paused, cut off) keeps the others waiting, and the
	// upper bound of one spend.
	DefaultLeaseTTL = 15 * time.Second
	// MinLeaseTTL is the shortest lease WithLeaseTTL accepts: etcd rounds
	// shorter leases up to about 1.5 election timeouts anyway.
	MinLeaseTTL = 2 * time.Second
)

// Option configures a Store.
type Option func(*Store)

// WithLeaseTTL sets the lease of the lock (DefaultLeaseTTL when not given),
// rounded up to whole seconds and to at least MinLeaseTTL. A shorter lease
// lets the others take over sooner after a holder stopped; a longer one gives
// each spend of a refresh token more time.
func WithLeaseTTL(d time.Duration) Option {
	return func(s *Store) {
		if d < MinLeaseTTL {
			d = MinLeaseTTL
		}
		s.ttl = int64((d + time.Second - 1) / time.Second)
	}
}

// WithSafetyMargin sets how long before the earliest possible expiry of the
// lock's lease the deadline of a spend ends (by default one second plus 1 %
// of the lease TTL; see the package documentation for why).
func WithSafetyMargin(d time.Duration) Option {
	return func(s *Store) {
		if d >= 0 {
			s.margin = d
		}
	}
}

// WithOwner sets the text stored in this Store's lock key while it holds the
// lock, so that `etcdctl get --prefix KEY/.lock/` shows who holds it. The
// default is "hostname pid N".
func WithOwner(name string) Option { return func(s *Store) { s.owner = name } }

// Store is an anaplan.SettingsStore on one etcd key, with a lease-based lock
// across machines (anaplan.Locker) and the pre-flight of a spend
// (anaplan.SpendPreparer). The value of the key is the sealed envelope of
// anaplan.FileStore, so a settings file and an etcd entry are
// interchangeable. It is safe for concurrent use; holders in one process
// take turns before they take the etcd lock.
//
// Keys used: KEY (the settings), KEY/.lock/… (the lock, one key per waiting
// lease), KEY/.fence (set by PrepareSpend, removed by the Save that follows).
type Store struct {
	cli     *clientv3.Client
	ownsCli bool
	key     string
	lockPfx string
	fence   string
	seal    []byte
	ttl     int64 // seconds
	margin  time.Duration
	owner   string

	turn chan struct{} // one holder in this process at a time

	mu      sync.Mutex
	closed  bool
	sess    *concurrency.Session
	hold    *hold       // the lock this Store holds, while it does
	pending *fenceState // this Store's fence, until a Save lands or it is lifted
	// What the SDK last read (or wrote) under the current hold: the mod
	// revision of the settings key (0: absent). PrepareSpend requires the
	// key to be unchanged since, so that a token is never spent on the
	// strength of a read that a late save made stale.
	readHold *hold
	readRev  int64
}

// hold is one acquisition of the etcd lock.
type hold struct {
	sess  *concurrency.Session
	key   string
	rev   int64 // the create revision of key: the lock is ours while it is unchanged
	lease clientv3.LeaseID
}

// fenceState is a fence this Store set with PrepareSpend.
type fenceState struct {
	rev    int64            // create revision of the fence key
	lease  clientv3.LeaseID // the fence's own lease (2 × TTL, not kept alive)
	modRev int64            // mod revision of the settings key when the fence was set (0: absent)
	tried  bool             // a Save was attempted after the fence was set (guarded by Store.mu)
}

// New returns a Store of the settings at key in the etcd cluster of cli,
// sealed with sealKey (32 bytes, as for anaplan.NewFileStore: usually
// anaplan.SettingsKey(clientID, clientSecret)). The Store does not close cli;
// call Close to end its lease when done. Give every OAuth client its own key.
func New(cli *clientv3.Client, key string, sealKey []byte, opts ...Option) *Store {
	s := &Store{
		cli:     cli,
		key:     key,
		lockPfx: key + "/.lock/",
		fence:   key + "/.fence",
		seal:    append([]byte(nil), sealKey...),
		ttl:     int64(DefaultLeaseTTL / time.Second),
		margin:  -1,
		turn:    make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(s)
	}
	if s.margin < 0 {
		s.margin = time.Second + s.leaseTTL()/100
	}
	if s.owner == "" {
		host, _ := os.Hostname()
		s.owner = host + " pid " + strconv.Itoa(os.Getpid())
	}
	return s
}

func (s *Store) leaseTTL() time.Duration { return time.Duration(s.ttl) * time.Second }

// fenceTTL is the life of a fence: it outlives the deadline of the spend it
// guards (at most the lease TTL) by a whole lease TTL, the time a holder that
// was paused mid-spend has to come back and land its result.
func (s *Store) fenceTTL() int64 { return 2 * s.ttl }

// String names the store (its key) for errors and logs.
func (s *Store) String() string { return "etcd key " + strconv.Quote(s.key) }

// Key returns the etcd key of the settings.
func (s *Store) Key() string { return s.key }

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("etcdstore: key %q: "+format, append([]any{s.key}, args...)...)
}

// Load reads the settings with a linearizable read. It returns an error
// matching anaplan.ErrNoSettings when the key does not exist, and one matching
// anaplan.ErrSettingsKey when the value was sealed with another key.
func (s *Store) Load(ctx context.Context) (*anaplan.Settings, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	var resp *clientv3.GetResponse
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.key)
		return err
	})
	if err != nil {
		return nil, s.errorf("reading the settings from etcd: %w", err)
	}
	if h != nil {
		var rev int64
		if len(resp.Kvs) == 1 {
			rev = resp.Kvs[0].ModRevision
		}
		s.noteRead(h, rev)
	}
	if len(resp.Kvs) == 0 {
		return nil, s.errorf("%w", anaplan.ErrNoSettings)
	}
	st, err := anaplan.OpenSealedSettings(s.seal, resp.Kvs[0].Value)
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	return st, nil
}

// noteRead records that, under hold h, the settings key was read or written
// at mod revision rev.
func (s *Store) noteRead(h *hold, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == h {
		s.readHold, s.readRev = h, rev
	}
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.errorf("%w", ErrClosed)
	}
	return nil
}

// Lock takes the etcd lock of the settings, waiting under ctx. The lock is a
// key under KEY/.lock/ bound to this Store's lease; the key with the oldest
// create revision holds it, and each waiter waits for the deletion of the one
// just before it (as concurrency.Mutex does). The lease is kept alive in the
// background while the process runs and reaches etcd; when it stops doing
// either for the lease TTL, the lock passes to the next waiter, and this
// Store's PrepareSpend and Save refuse from then on with ErrLockLost. Each
// call to etcd is bounded and retried within ctx, so that a request lost with
// a failed leader costs one short timeout, not etcd's request timeout.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, s.errorf("waiting for the lock (held by another client in this process): %w", ctx.Err())
	}
	h, err := s.acquire(ctx)
	if err != nil {
		<-s.turn
		return nil, err
	}
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.release(h) }) }, nil
}

// callTimeout bounds one call to etcd; a call that times out is retried
// while the caller's context allows.
func (s *Store) callTimeout() time.Duration {
	return min(max(s.leaseTTL()/4, time.Second), 5*time.Second)
}

// retry runs op under a per-call timeout until it succeeds, fails with an
// error that another try cannot fix, or ctx ends.
func (s *Store) retry(ctx context.Context, op func(ctx context.Context) error) error {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, s.callTimeout())
		err := op(cctx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (s *Store) acquire(ctx context.Context) (*hold, error) {
	for attempt := 0; ; attempt++ {
		sess, err := s.session(ctx)
		if err != nil {
			return nil, err
		}
		h, err := s.acquireOn(ctx, sess)
		if err == nil {
			return h, nil
		}
		s.abandon(sess, s.lockPfx+fmt.Sprintf("%x", sess.Lease()))
		lost := errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, concurrency.ErrSessionExpired)
		if lost && attempt == 0 && ctx.Err() == nil {
			s.dropSession(sess) // its keep-alive may not have noticed yet
			continue            // one more try with a new lease
		}
		return nil, s.errorf("taking the lock in etcd: %w", err)
	}
}

func (s *Store) acquireOn(ctx context.Context, sess *concurrency.Session) (*hold, error) {
	h := &hold{sess: sess, key: s.lockPfx + fmt.Sprintf("%x", sess.Lease()), lease: sess.Lease()}
	// Queue up (idempotent: a retry finds its own key).
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(h.key), "=", 0)).
			Then(clientv3.OpPut(h.key, s.owner, clientv3.WithLease(h.lease))).
			Else(clientv3.OpGet(h.key)).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			h.rev = resp.Header.Revision
		} else {
			h.rev = resp.Responses[0].GetResponseRange().Kvs[0].CreateRevision
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for {
		// The newest waiter before us, and whether we are still queued.
		var before *mvccpb.KeyValue
		var rev int64
		err := s.retry(ctx, func(ctx context.Context) error {
			resp, err := s.cli.Txn(ctx).Then(
				clientv3.OpGet(s.lockPfx, append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxCreateRev(h.rev - 1)}, clientv3.WithLastCreate()...)...),
				clientv3.OpGet(h.key)).Commit()
			if err != nil {
				return err
			}
			if len(resp.Responses[1].GetResponseRange().Kvs) == 0 {
				return concurrency.ErrSessionExpired
			}
			before, rev = nil, resp.Header.Revision
			if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
				before = kvs[0]
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if before == nil {
			return h, nil
		}
		if err := s.waitDelete(ctx, sess, string(before.Key), rev); err != nil {
			return nil, err
		}
	}
}

// waitDelete waits until key is deleted after rev, the session ends, ctx
// ends, or a while passes (the caller then looks again: a watch on a member
// cut off from the others may stay silent).
func (s *Store) waitDelete(ctx context.Context, sess *concurrency.Session, key string, rev int64) error {
	wctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), s.leaseTTL()/2)
	defer cancel()
	wch := s.cli.Watch(wctx, key, clientv3.WithRev(rev+1), clientv3.WithFilterPut())
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				return ctx.Err() // nil: look again
			}
			if wr.Canceled || wr.Err() != nil {
				return ctx.Err()
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					return nil
				}
			}
		case <-sess.Done():
			return concurrency.ErrSessionExpired
		case <-wctx.Done():
			return ctx.Err()
		}
	}
}

// session returns the Store's live session, granting a new lease when there
// is none or the last one ended.
func (s *Store) session(ctx context.Context) (*concurrency.Session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, s.errorf("%w", ErrClosed)
	}
	if s.sess != nil {
		select {
		case <-s.sess.Done():
			s.sess = nil
		default:
			sess := s.sess
			s.mu.Unlock()
			return sess, nil
		}
	}
	s.mu.Unlock()
	var g *clientv3.LeaseGrantResponse
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		g, err = s.cli.Grant(ctx, s.ttl)
		return err
	})
	if err != nil {
		return nil, s.errorf("granting a lease in etcd: %w", err)
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(g.ID), concurrency.WithTTL(int(s.ttl)),
		concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		s.revoke(g.ID)
		return nil, s.errorf("keeping a lease alive in etcd: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go sess.Close()
		return nil, s.errorf("%w", ErrClosed)
	}
	s.sess = sess
	return sess, nil
}

// abandon cleans up after a failed acquisition: the waiter key, if it was
// written, must not stay behind bound to a lease that is kept alive. When it
// cannot be deleted, the session is dropped so that the lease expires.
func (s *Store) abandon(sess *concurrency.Session, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.leaseTTL()/3)
	defer cancel()
	if err := s.retry(ctx, func(ctx context.Context) error { _, err := s.cli.Delete(ctx, key); return err }); err == nil {
		return
	}
	s.dropSession(sess)
}

// dropSession stops keeping sess alive and revokes its lease (best effort:
// unrevoked, it expires within the TTL).
func (s *Store) dropSession(sess *concurrency.Session) {
	s.mu.Lock()
	if s.sess == sess {
		s.sess = nil
	}
	s.mu.Unlock()
	sess.Orphan()
	s.revoke(sess.Lease())
}

func (s *Store) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), s.leaseTTL()/3)
	defer cancel()
	_ = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.cli.Revoke(ctx, id)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil
		}
		return err
	})
}

func (s *Store) release(h *hold) {
	defer func() { <-s.turn }()
	ctx, cancel := context.WithTimeout(context.Background(), s.leaseTTL()/2)
	defer cancel()
	s.mu.Lock()
	s.hold = nil
	f := s.pending
	if f != nil && !f.tried {
		// The spend made nothing to save (refused or failed): lift the
		// fence, or others wait for it to expire. A fence whose Save
		// failed stays: its spend may have worked.
		s.pending = nil
	} else {
		f = nil
	}
	s.mu.Unlock()
	if f != nil {
		s.liftFence(ctx, f)
	}
	if err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(h.key), "=", h.rev)).
			Then(clientv3.OpDelete(h.key)).Commit()
		return err
	}); err != nil {
		// Unreleased, the key would stay as long as the session lives:
		// end the session so that the lease expires instead.
		s.dropSession(h.sess)
	}
}

func (s *Store) liftFence(ctx context.Context, f *fenceState) {
	// Revoking the fence's lease deletes the fence with it.
	_ = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(s.fence), "=", f.rev)).
			Then(clientv3.OpDelete(s.fence)).Commit()
		return err
	})
	s.revoke(f.lease)
}

// owns is the comparison that holds while h is the lock holder.
func (s *Store) owns(h *hold) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(h.key), "=", h.rev)
}

// PrepareSpend implements anaplan.SpendPreparer. Called under Lock right
// before a refresh token is spent, it checks with the leader that the lock's
// lease is alive and how long it has left (TimeToLive, renewed first when
// little is left), then, in one linearizable transaction conditional on still
// holding the lock and on no other holder's spend being pending, sets a fence
// (KEY/.fence, on a lease of its own of twice the TTL) that makes every other
// PrepareSpend refuse until the Save that follows lands or the fence expires.
// A write also proves that etcd takes writes (not out of quota, a quorum is
// up), so the Save that follows can be expected to land.
//
// The deadline it returns ends the safety margin before the earliest moment
// the lock's lease could expire as measured from before the question was
// sent. It fails with ErrLockLost when the lock was lost and ErrSpendPending
// when another holder's spend may still land.
func (s *Store) PrepareSpend(ctx context.Context) (time.Time, error) {
	s.mu.Lock()
	h, f, closed := s.hold, s.pending, s.closed
	tried := f != nil && f.tried
	s.mu.Unlock()
	switch {
	case closed:
		return time.Time{}, s.errorf("%w", ErrClosed)
	case h == nil:
		return time.Time{}, s.errorf("PrepareSpend without the lock: call Lock first")
	}
	s.mu.Lock()
	readRev, read := s.readRev, s.readHold == h
	s.mu.Unlock()
	if !read {
		return time.Time{}, s.errorf("%w: PrepareSpend before a Load under the lock", ErrStale)
	}
	// The whole pre-flight is bounded: a lease ticks while it waits.
	ctx, cancel := context.WithTimeout(ctx, s.leaseTTL()/2)
	defer cancel()
	var t0 time.Time
	var left time.Duration
	err := s.retry(ctx, func(ctx context.Context) error {
		t0 = time.Now()
		ttl, err := s.cli.TimeToLive(ctx, h.lease)
		if err != nil {
			return err
		}
		if ttl.TTL < 0 { // 0 is less than a second left
			return rpctypes.ErrLeaseNotFound
		}
		left = time.Duration(ttl.TTL) * time.Second
		return nil
	})
	if err != nil {
		return time.Time{}, s.lockErr("asking etcd for the lock's lease", err)
	}
	if left-s.margin < s.leaseTTL()/2 {
		// The keep-alive is late (or the lease is short): renew now so that
		// the spend gets the whole TTL.
		err := s.retry(ctx, func(ctx context.Context) error {
			t0 = time.Now()
			ka, err := s.cli.KeepAliveOnce(ctx, h.lease)
			if err != nil {
				return err
			}
			left = time.Duration(ka.TTL) * time.Second
			return nil
		})
		if err != nil {
			return time.Time{}, s.lockErr("renewing the lock's lease", err)
		}
	}
	if f != nil && !tried {
		// Prepared again before anything was spent (a sign-in prepares
		// before the person is asked, and again before the exchange):
		// replace the fence, whose life counts from the first time.
		s.liftFence(ctx, f)
		s.dropFence(f)
		f = nil
	}
	if f != nil {
		// The result of this Store's last spend has not landed: while its
		// fence stands, the stored refresh token may be spent already, by
		// any client of this Store. Once it expired, the Store is in the
		// same place as everyone else.
		var standing bool
		err := s.retry(ctx, func(ctx context.Context) error {
			resp, err := s.cli.Get(ctx, s.fence)
			standing = err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == f.rev
			return err
		})
		switch {
		case err != nil:
			return time.Time{}, s.errorf("reading the spend fence from etcd: %w", err)
		case standing:
			return time.Time{}, s.errorf("%w: the result of this store's last spend is not saved yet", ErrSpendPending)
		}
		s.dropFence(f)
	}
	f, err = s.setFence(ctx, h, readRev)
	if err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	if s.hold != h {
		s.mu.Unlock()
		return time.Time{}, s.errorf("%w: released while preparing the spend", ErrLockLost)
	}
	s.pending = f
	s.mu.Unlock()
	left = min(left, time.Duration(s.fenceTTL())*time.Second)
	return t0.Add(left - s.margin), nil
}

func (s *Store) lockErr(what string, err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.errorf("%s: %w: %w", what, ErrLockLost, err)
	}
	return s.errorf("%s: %w", what, err)
}

// setFence sets KEY/.fence on a lease of its own, if this Store holds the
// lock and no fence stands. The fence's value is unique to this call, so a
// retried transaction that finds it knows it is its own.
func (s *Store) setFence(ctx context.Context, h *hold, readRev int64) (*fenceState, error) {
	var g *clientv3.LeaseGrantResponse
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		g, err = s.cli.Grant(ctx, s.fenceTTL())
		return err
	})
	if err != nil {
		return nil, s.errorf("granting the fence's lease in etcd: %w", err)
	}
	value := fmt.Sprintf("%s lease %x", s.owner, g.ID)
	f := &fenceState{lease: g.ID}
	var outcome error
	err = s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).
			If(s.owns(h), clientv3.Compare(clientv3.CreateRevision(s.fence), "=", 0),
				clientv3.Compare(clientv3.ModRevision(s.key), "=", readRev)).
			Then(clientv3.OpPut(s.fence, value, clientv3.WithLease(g.ID)), clientv3.OpGet(s.key), clientv3.OpGet(s.fence)).
			Else(clientv3.OpGet(h.key), clientv3.OpGet(s.key), clientv3.OpGet(s.fence)).
			Commit()
		if err != nil {
			return err
		}
		fence := resp.Responses[2].GetResponseRange().Kvs
		switch {
		case resp.Succeeded:
		case len(fence) == 1 && string(fence[0].Value) == value:
			// An earlier try of ours landed; its answer was lost.
		case len(resp.Responses[0].GetResponseRange().Kvs) == 0:
			outcome = s.errorf("%w", ErrLockLost)
			return nil
		case len(fence) == 1:
			outcome = s.errorf("%w", ErrSpendPending)
			return nil
		default:
			outcome = s.errorf("%w", ErrStale)
			return nil
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
			f.modRev = kvs[0].ModRevision
		}
		f.rev = fence[0].CreateRevision
		return nil
	})
	if err == nil {
		err = outcome
	} else {
		err = s.errorf("setting the spend fence in etcd: %w", err)
	}
	if err != nil {
		go s.revoke(g.ID) // also removes a fence of ours whose answer was lost
		return nil, err
	}
	return f, nil
}

func (s *Store) dropFence(f *fenceState) {
	s.mu.Lock()
	if s.pending == f {
		s.pending = nil
	}
	s.mu.Unlock()
}

// Save writes the sealed settings. After PrepareSpend it is a transaction
// conditional on this Store's fence still standing and the settings being
// unchanged since the fence was set: no one else can have spent the stored
// refresh token in between, so the result lands even when the lock's lease
// expired while the spend was answered. Without a fence it is conditional on
// holding the lock (taken for the call when this Store does not hold it).
// A condition that fails is reported as ErrLockLost and nothing is written;
// a failure to reach etcd is retried until ctx ends.
func (s *Store) Save(ctx context.Context, st *anaplan.Settings) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	sealed, err := anaplan.SealSettings(s.seal, st)
	if err != nil {
		return s.errorf("%w", err)
	}
	s.mu.Lock()
	h, f := s.hold, s.pending
	if f != nil {
		f.tried = true
	}
	s.mu.Unlock()
	if h == nil && f == nil {
		unlock, err := s.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		s.mu.Lock()
		h = s.hold
		s.mu.Unlock()
	}
	landed := false
	var savedRev int64
	err = s.retry(ctx, func(ctx context.Context) error {
		t := s.cli.Txn(ctx)
		if f != nil {
			t = t.If(clientv3.Compare(clientv3.CreateRevision(s.fence), "=", f.rev),
				clientv3.Compare(clientv3.ModRevision(s.key), "=", f.modRev)).
				Then(clientv3.OpPut(s.key, string(sealed)), clientv3.OpDelete(s.fence))
		} else {
			t = t.If(s.owns(h)).Then(clientv3.OpPut(s.key, string(sealed)))
		}
		resp, err := t.Else(clientv3.OpGet(s.key)).Commit()
		if err != nil {
			return err
		}
		landed = resp.Succeeded
		if landed {
			savedRev = resp.Header.Revision
		}
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); !landed && len(kvs) == 1 && string(kvs[0].Value) == string(sealed) {
			landed = true // an earlier try landed (each sealing has its own nonce); its answer was lost
			savedRev = kvs[0].ModRevision
		}
		return nil
	})
	switch {
	case err != nil:
		return s.errorf("saving the settings to etcd: %w", err)
	case landed:
		if h != nil {
			s.noteRead(h, savedRev) // what this client holds is what the key holds
		}
		if f != nil {
			s.dropFence(f)
			go s.revoke(f.lease)
		}
		return nil
	case f != nil:
		s.dropFence(f)
		return s.errorf("saving the settings: %w: the spend fence expired, or the settings were changed since it was set; nothing was written", ErrLockLost)
	}
	return s.errorf("saving the settings: %w; nothing was written", ErrLockLost)
}

// retryable reports whether a failed etcd call may work when tried again:
// anything but a refusal of the request itself.
func retryable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled):
		return false // the caller's own context: retry reports it
	case errors.Is(err, concurrency.ErrSessionExpired), errors.Is(err, rpctypes.ErrLeaseNotFound), errors.Is(err, ErrLockLost):
		return false
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrPermissionDenied),
		errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrNoSpace),
		errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrInvalidAuthToken):
		return false
	}
	return true
}

// CopyFrom seeds the etcd key with the settings of src (for example the
// anaplan.FileStore that `anaplan login` wrote on a laptop), under the lock.
// It refuses with ErrSettingsExist when the key already holds settings, so
// that a fleet's newer tokens are never replaced by an older copy (whose
// refresh token, spent since, would revoke the grant): to replace them on
// purpose, call Save.
func (s *Store) CopyFrom(ctx context.Context, src anaplan.SettingsStore) error {
	st, err := src.Load(ctx)
	if err != nil {
		return s.errorf("reading the settings to copy: %w", err)
	}
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	sealed, err := anaplan.SealSettings(s.seal, st)
	if err != nil {
		return s.errorf("%w", err)
	}
	resp, err := s.cli.Txn(ctx).If(s.owns(h), clientv3.Compare(clientv3.CreateRevision(s.key), "=", 0)).
		Then(clientv3.OpPut(s.key, string(sealed))).Else(clientv3.OpGet(h.key)).Commit()
	switch {
	case err != nil:
		return s.errorf("writing the settings to etcd: %w", err)
	case resp.Succeeded:
		return nil
	case len(resp.Responses[0].GetResponseRange().Kvs) == 0:
		return s.errorf("%w", ErrLockLost)
	}
	return s.errorf("%w: delete it first (etcdctl del %s) or call Save to replace it", ErrSettingsExist, s.key)
}

// Close ends the Store's lease (releasing any lock key it still has) and, for
// a Store opened from an etcd:// location, closes its client. Client.Close
// closes a Store that an OAuthSettingsLocation opened; close one made with
// New after the anaplan.Client that uses it. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sess := s.sess
	s.sess = nil
	s.mu.Unlock()
	var err error
	if sess != nil {
		sess.Orphan()
		s.revoke(sess.Lease())
	}
	if s.ownsCli {
		err = s.cli.Close()
	}
	return err
}
