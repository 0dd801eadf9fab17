package etcdstore_test

import (
	"context"
	"log"
	"os"
	"path/filepath"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/etcdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A fleet's processes share one OAuth identity through etcd. (Not run: it
// needs an etcd cluster.)
func ExampleNew() {
	ctx := context.Background()
	clientID, clientSecret := os.Getenv("ANAPLAN_CLIENT_ID"), os.Getenv("ANAPLAN_CLIENT_SECRET")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	store := etcdstore.New(cli, "/anaplan/prod/oauth", anaplan.SettingsKey(clientID, clientSecret))
	defer store.Close()
	c, err := anaplan.New(ctx,
		anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: clientID, ClientSecret: clientSecret, Initiate: anaplan.InitiateRefresh}),
		anaplan.WithSettingsStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
}

// The fleet starts from the settings file that `anaplan login` wrote on a
// laptop. (Not run: it needs an etcd cluster.)
func ExampleStore_CopyFrom() {
	ctx := context.Background()
	key := anaplan.SettingsKey(os.Getenv("ANAPLAN_CLIENT_ID"), os.Getenv("ANAPLAN_CLIENT_SECRET"))
	dir, _ := os.UserConfigDir()
	laptop := anaplan.NewFileStore(filepath.Join(dir, "anaplan", "oauth-settings"), key)

	store, err := etcdstore.Open("etcd://127.0.0.1:2379/anaplan/prod/oauth", key)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.CopyFrom(ctx, laptop); err != nil {
		log.Fatal(err) // errors.Is(err, etcdstore.ErrSettingsExist): the fleet has tokens already
	}
}
