package etcdstore

import clientv3 "go.etcd.io/etcd/client/v3"

// StopKeepAliveForTest stops renewing the lease of the lock this Store holds,
// as a paused or cut-off process would: the lease expires after its TTL.
// It returns the lease.
func (s *Store) StopKeepAliveForTest() clientv3.LeaseID {
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess == nil {
		return clientv3.NoLease
	}
	sess.Orphan()
	return sess.Lease()
}
