package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdWait bounds how long start-up waits for etcd before it gives up.
const etcdWait = 5 * time.Second

// clusterConfig turns the cluster settings into the actors' (nil on a
// single node). With etcd it first checks that the endpoints answer, so a
// node that cannot join fails at start-up with the endpoints named, after
// at most etcdWait, instead of hanging.
func clusterConfig(c config.Cluster) (*actors.ClusterConfig, error) {
	if c.Provider != config.ClusterEtcd {
		return nil, nil
	}
	// etcd's client logs through zap on its own; Herald reports what matters.
	ecfg := clientv3.Config{Endpoints: c.EtcdEndpoints, DialTimeout: etcdWait, Logger: zap.NewNop()}
	if err := checkEtcd(ecfg); err != nil {
		return nil, fmt.Errorf("cluster: etcd is not reachable at %s: %w", strings.Join(c.EtcdEndpoints, ","), err)
	}
	provider, err := etcd.NewWithConfig("/herald", ecfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd at %s: %w", strings.Join(c.EtcdEndpoints, ","), err)
	}
	return &actors.ClusterConfig{Name: c.Name, Provider: provider, Listen: c.Listen, Advertise: c.Advertise, Grace: c.Grace}, nil
}

// checkEtcd asks every endpoint for its status and succeeds if one answers.
func checkEtcd(cfg clientv3.Config) error {
	client, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer client.Close() //nolint:errcheck // a probe's client: nothing to do about a failed close
	ctx, cancel := context.WithTimeout(context.Background(), etcdWait)
	defer cancel()
	var errs []error
	for _, ep := range cfg.Endpoints {
		if _, err := client.Status(ctx, ep); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return errors.Join(errs...)
}
