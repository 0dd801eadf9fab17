// Package etcdstore keeps the OAuth settings of github.com/go-anaplan/anaplan
// in etcd, so that processes on many machines share one OAuth identity and
// never spend the same rotating refresh token twice (Anaplan revokes the
// whole grant when a used refresh token is presented again).
//
//	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{"https://10.0.0.1:2379"}, TLS: tlsConfig})
//	store := etcdstore.New(cli, "/anaplan/prod/oauth", anaplan.SettingsKey(clientID, clientSecret))
//	c, err := anaplan.New(ctx, anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))
//
// or, in a connection string, once the package is imported
// (import _ "github.com/go-anaplan/anaplan/etcdstore"):
//
//	OAuthSettingsLocation=etcd://10.0.0.1:2379,10.0.0.2:2379/anaplan/prod/oauth
//
// with TLS and credentials from the environment (EnvCACert and the other Env
// names, or etcdctl's ETCDCTL_ names). The value of the key is the sealed
// envelope of anaplan.FileStore: Store.CopyFrom (or `etcdctl put KEY <
// settings-file`) seeds it from a settings file that `anaplan login` wrote.
//
// # Why no schedule of faults makes two hosts spend one refresh token
//
// The SDK spends a refresh token only under Store.Lock, after re-reading the
// key, and only after Store.PrepareSpend said yes. The argument rests on four
// facts of etcd: a lease expires on the leader's clock and only after its TTL
// without renewal (a new leader extends leases, never shortens them), an
// expired lease cannot be renewed, keys bound to it are deleted when it is
// revoked, and transactions are linearizable.
//
//  1. Mutual exclusion of the lock. The lock key of a holder lives on its
//     lease; the next waiter takes the lock only once that key is deleted,
//     that is after the holder unlocked or its lease expired.
//  2. A holder that lost the lock does not start a spend. PrepareSpend reads
//     the lease's remaining time R from the leader (TimeToLive truncates to
//     whole seconds, so the lease lives at least R from the answer on), having
//     noted the local time t0 before asking, and then sets the fence (below) in
//     a transaction conditional on the lock key still being the one it
//     created. The deadline it returns is t0 + R − margin: until then the
//     lease cannot have expired, whatever happened since. The SDK does not
//     send the spend after the deadline (a paused process wakes up to a
//     deadline in the past) and ends it there.
//  3. A spend that was sent is fenced. The fence (KEY/.fence) is set in that
//     same transaction and only if no fence stands; it lives on a lease of its
//     own of twice the TTL that nobody renews, and it is removed by the Save
//     that lands the spend's result, or at unlock when no Save followed (the
//     spend was refused or failed, and the SDK goes on spending the stored
//     token after such failures anyway). A fence whose Save failed stays. While
//     a fence stands, every PrepareSpend refuses (ErrSpendPending), this
//     Store's own included: a holder that is paused or cut off with its request
//     in flight, or whose result is only in its memory, keeps everyone from
//     spending the token it may have spent.
//  4. The result lands or nothing lands. Save after PrepareSpend writes only
//     if this holder's fence still stands and the settings key is unchanged
//     since the fence was set, in one transaction that also removes the fence.
//     So a holder that comes back from a pause after its lease expired still
//     lands its new tokens (nobody can have spent the old one meanwhile); one
//     that comes back after its fence expired writes nothing (ErrLockLost) and
//     the SDK keeps the tokens in memory without overwriting newer settings.
//
// Hence for two spends of one refresh token, the second holder must have read
// it from the key after the first holder's spend began; it then found the
// first holder's fence standing (refused), or found it gone because its Save
// landed (then the key held the new token, not this one), because the first
// holder unlocked without a result (its spend was refused or failed: the SDK
// keeps spending the stored token after such failures anyway), or because the
// fence expired, 2 × TTL after it was set.
//
// # The margin, and what remains
//
// The margin (WithSafetyMargin; by default 1 s + 1 % of the TTL) covers three
// things: the difference in clock rate between this host and the etcd leader
// (quartz is within 100 ppm and NTP slews at most 500 ppm, so 1 % is twenty
// times the worst honest case, 150 ms over the default 15 s lease); the time
// from the SDK's last look at the deadline to the request leaving the host;
// and the round trip of the Save transaction after the answer.
//
// What no lock can rule out, because the OAuth server takes no fencing token:
//   - A spend that the server answers after the SDK gave up on it at the
//     deadline (about TTL − margin after the pre-flight: a token endpoint or
//     network that slow, or a process paused that long while its request was
//     in flight), or whose answer comes back after the fence expired: its new
//     token is lost, the fence lifts or expires, and the next holder spends
//     the old token. Keep the TTL well above the token endpoint's worst answer
//     time (the default 15 s leaves about 13.8 s).
//   - A process paused for longer than the margin exactly between its last
//     look at the deadline and the moment its request leaves.
//   - A clock on this host that runs more than 1 % slower than the leader's.
//   - A process killed after its request was sent and before its save: the
//     new token is lost with it (as with any store); the fence keeps the
//     others from spending the old one for 2 × TTL, then they do, and the
//     server revokes the grant if it had answered the killed process.
//
// A holder that crashes between PrepareSpend and its Save blocks spending for
// up to 2 × TTL; otherwise a crash or pause blocks the others for at most one
// TTL (the lock's lease) plus etcd's expiry check (500 ms). Every call to etcd
// is bounded (a quarter of the TTL, 1 s to 5 s) and retried within the
// caller's context, so a request lost with a failed leader costs one such
// timeout rather than etcd's own request timeout of 5 s and more.
package etcdstore
