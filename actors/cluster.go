package actors

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
)

// ClusterConfig makes a Broker one member of a cluster (docs/cluster.md):
// channel authorities become grains placed across the members, events
// and member changes travel between members as protobuf messages.
type ClusterConfig struct {
	// Name: members with the same provider and name form one cluster.
	Name string
	// Provider is the membership (etcd in production, Proto.Actor's test
	// provider in tests).
	Provider cluster.ClusterProvider
	// Listen is this member's inter-node (gRPC) address; port 0 picks one.
	Listen string
	// Advertise is the host:port the other members dial, when it differs
	// from Listen.
	Advertise string
	// Grace is how long a departure (a member's last connection, a
	// channel's last subscription, a node that left) waits before it is
	// told, so that a reconnect or a re-sync within it shows nothing;
	// required.
	Grace time.Duration
}

// grainTimeout bounds a request to a channel grain.
const grainTimeout = 5 * time.Second

// startCluster configures and starts this system as a cluster member
// hosting the channel grains of node, and the node actor that takes their
// deliveries, which it returns.
func startCluster(system *actor.ActorSystem, cfg *ClusterConfig, node *clusterNode, routes map[string]*actor.PID,
	opts ...actor.PropsOption) (*cluster.Cluster, *actor.PID, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster listen %q: %w", cfg.Listen, err)
	}
	var ropts []remote.ConfigOption
	if cfg.Advertise != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(cfg.Advertise))
	}
	kind := cluster.NewKind(GrainKind, newGrainProps(node))
	c := cluster.New(system, cluster.Configure(cfg.Name, cfg.Provider, disthash.New(),
		remote.Configure(host, port, ropts...), cluster.WithKinds(kind)))
	node.cluster = c
	if err := startMember(c); err != nil {
		return nil, nil, err
	}
	pid, err := system.Root.SpawnNamed(newNodeProps(routes, node.log, opts...), NodeActorName)
	if err != nil {
		c.Shutdown(false)
		return nil, nil, fmt.Errorf("spawn node actor: %w", err)
	}
	root := system.Root
	system.EventStream.Subscribe(func(evt any) { // runs on the publisher's goroutine: only forwards
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			root.Send(pid, t)
		}
	})
	return c, pid, nil
}

// startMember joins the cluster; Proto.Actor panics when the provider
// fails, which becomes an error here.
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("join the cluster: %v", r)
		}
	}()
	c.StartMember()
	return nil
}
