package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func init() {
	anaplan.RegisterSettingsScheme("etcd", func(location string, key []byte) (anaplan.SettingsStore, error) {
		return Open(location, key)
	})
}

// Environment variables that configure the client of Open (and so of
// OAuthSettingsLocation=etcd://…). Each ETCDSTORE_ name falls back to the
// etcdctl name in parentheses, so a shell set up for etcdctl works as it is.
// A location never carries credentials.
//
//	ETCDSTORE_CACERT   (ETCDCTL_CACERT)   PEM file of the CAs that sign the etcd servers' certificates; turns TLS on
//	ETCDSTORE_CERT     (ETCDCTL_CERT)     PEM file of a client certificate; turns TLS on
//	ETCDSTORE_KEY      (ETCDCTL_KEY)      PEM file of its private key
//	ETCDSTORE_USER     (ETCDCTL_USER)     etcd user name, or "name:password"
//	ETCDSTORE_PASSWORD (ETCDCTL_PASSWORD) etcd password
//	ETCDSTORE_LEASE_TTL                   lease of the lock, as a Go duration ("15s"); see WithLeaseTTL
const (
	EnvCACert   = "ETCDSTORE_CACERT"
	EnvCert     = "ETCDSTORE_CERT"
	EnvKey      = "ETCDSTORE_KEY"
	EnvUser     = "ETCDSTORE_USER"
	EnvPassword = "ETCDSTORE_PASSWORD"
	EnvLeaseTTL = "ETCDSTORE_LEASE_TTL"
)

var etcdctlNames = map[string]string{
	EnvCACert: "ETCDCTL_CACERT", EnvCert: "ETCDCTL_CERT", EnvKey: "ETCDCTL_KEY",
	EnvUser: "ETCDCTL_USER", EnvPassword: "ETCDCTL_PASSWORD",
}

func getenv(name string) (value, from string) {
	if v := os.Getenv(name); v != "" {
		return v, name
	}
	if alt := etcdctlNames[name]; alt != "" {
		if v := os.Getenv(alt); v != "" {
			return v, alt
		}
	}
	return "", name
}

// Location is a parsed etcd:// settings location.
type Location struct {
	Hosts []string // host:port of each member, in the order given
	Key   string   // the etcd key of the settings, with its leading "/"
}

// ParseLocation parses "etcd://host:port[,host:port…]/key/path". User
// information, a query or a fragment are refused (credentials come from the
// environment, see EnvUser). Its errors never repeat the location.
func ParseLocation(location string) (Location, error) {
	const scheme = "etcd://"
	if len(location) < len(scheme) || !strings.EqualFold(location[:len(scheme)], scheme) {
		return Location{}, errors.New("etcdstore: the location must start with etcd://")
	}
	rest := location[len(scheme):]
	if strings.ContainsAny(rest, "?#") {
		return Location{}, errors.New("etcdstore: the location takes no query or fragment: etcd://host:port[,host:port…]/key")
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 || slash == len(rest)-1 {
		return Location{}, errors.New("etcdstore: the location names no key: etcd://host:port[,host:port…]/key")
	}
	authority, key := rest[:slash], rest[slash:]
	if strings.Contains(authority, "@") {
		return Location{}, errors.New("etcdstore: the location must not hold credentials: set " + EnvUser + " and " + EnvPassword + " (or client certificates) instead")
	}
	var hosts []string
	for i, h := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return Location{}, fmt.Errorf("etcdstore: member %d of the location is not host:port", i+1)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Location{}, fmt.Errorf("etcdstore: member %d of the location has an invalid port", i+1)
		}
		hosts = append(hosts, h)
	}
	return Location{Hosts: hosts, Key: key}, nil
}

// Open makes a client from the location and the environment (see EnvCACert
// and the other Env names) and returns a Store on it that closes the client
// in Close. It is what OAuthSettingsLocation=etcd://… runs once this package
// is imported. It does not wait for etcd to answer.
func Open(location string, sealKey []byte, opts ...Option) (*Store, error) {
	loc, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromEnv(loc.Hosts)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdstore: making the etcd client: %w", err)
	}
	if v := os.Getenv(EnvLeaseTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			cli.Close()
			return nil, fmt.Errorf("etcdstore: %s is not a positive duration such as 15s", EnvLeaseTTL)
		}
		opts = append([]Option{WithLeaseTTL(d)}, opts...)
	}
	s := New(cli, loc.Key, sealKey, opts...)
	s.ownsCli = true
	return s, nil
}

// ConfigFromEnv returns the client configuration Open uses for the members
// hosts (host:port each): TLS when a CA or client certificate is named in the
// environment, user and password when given there.
func ConfigFromEnv(hosts []string) (clientv3.Config, error) {
	cfg := clientv3.Config{
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
	}
	ca, caVar := getenv(EnvCACert)
	cert, certVar := getenv(EnvCert)
	key, keyVar := getenv(EnvKey)
	if ca != "" || cert != "" || key != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca != "" {
			pem, err := readSmall(ca)
			if err != nil {
				return cfg, fmt.Errorf("etcdstore: %s: %w", caVar, err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("etcdstore: %s holds no PEM certificate", caVar)
			}
		}
		if (cert == "") != (key == "") {
			return cfg, fmt.Errorf("etcdstore: set both %s and %s for a client certificate", certVar, keyVar)
		}
		if cert != "" {
			cp, err := readSmall(cert)
			if err != nil {
				return cfg, fmt.Errorf("etcdstore: %s: %w", certVar, err)
			}
			kp, err := readSmall(key)
			if err != nil {
				return cfg, fmt.Errorf("etcdstore: %s: %w", keyVar, err)
			}
			pair, err := tls.X509KeyPair(cp, kp)
			clear(kp)
			if err != nil {
				return cfg, fmt.Errorf("etcdstore: %s and %s are not a matching PEM certificate and key", certVar, keyVar)
			}
			t.Certificates = []tls.Certificate{pair}
		}
		cfg.TLS = t
	}
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	for _, h := range hosts {
		cfg.Endpoints = append(cfg.Endpoints, scheme+h)
	}
	user, _ := getenv(EnvUser)
	password, _ := getenv(EnvPassword)
	if name, pw, ok := strings.Cut(user, ":"); ok && password == "" {
		user, password = name, pw
	}
	if password != "" && user == "" {
		return cfg, fmt.Errorf("etcdstore: a password is set without %s", EnvUser)
	}
	cfg.Username, cfg.Password = user, password
	return cfg, nil
}

// readSmall reads a regular file of at most 1 MiB (a certificate or key).
func readSmall(path string) ([]byte, error) {
	const limit = 1 << 20
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	return b, nil
}
