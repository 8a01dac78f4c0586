package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sync/errgroup"
)

// service is one long-lived part of the node: run works until ctx ends
// and returns nil then, or returns the error that stops the node.
type service struct {
	name string
	run  func(ctx context.Context) error
}

// Shutdown stages, in the order the node stops them (the one place that
// order is written). Each stage's services see their context end only
// after every service of the stages before it has returned:
//
//  1. stageFront: what takes requests from outside or makes blocks (RPC
//     server and its event streams, explorer, metrics endpoint, miner,
//     log reporters), so nothing new arrives while the rest stops;
//  2. stageNetwork: the p2p host, gossip, sync and discovery, which feed
//     blocks and transactions to the chain and the pool;
//  3. stagePool: mempool expiry;
//  4. stageChain: the chain state's flusher, last, so the UTXO cache is
//     flushed after the last block was processed.
const (
	stageFront = iota
	stageNetwork
	stagePool
	stageChain
	numStages
)

// services is the set of services Run starts, by stage.
type services [numStages][]service

func (s *services) add(stage int, name string, run func(ctx context.Context) error) {
	s[stage] = append(s[stage], service{name: name, run: run})
}

// run starts every service in one errgroup and returns when all have
// returned: after ctx ends, or after one of them fails (its error is
// returned). Either way the stages are stopped in order.
func (s *services) run(ctx context.Context, log *slog.Logger) error {
	g, gctx := errgroup.WithContext(ctx)
	var (
		cancels [numStages]context.CancelFunc
		running [numStages]sync.WaitGroup
	)
	for stage := range s {
		// A stage's context is cut from ctx's cancellation: only the
		// shutdown sequence below ends it.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[stage] = cancel
		for _, svc := range s[stage] {
			running[stage].Add(1)
			g.Go(func() error {
				defer running[stage].Done()
				err := svc.run(sctx)
				if sctx.Err() != nil && errors.Is(err, context.Canceled) {
					err = nil
				}
				if err == nil && sctx.Err() == nil {
					err = fmt.Errorf("%s stopped unexpectedly", svc.name)
				}
				if err != nil {
					log.Debug("service stopped", "service", svc.name, "err", err)
					return fmt.Errorf("%s: %w", svc.name, err)
				}
				log.Debug("service stopped", "service", svc.name)
				return nil
			})
		}
	}
	g.Go(func() error {
		<-gctx.Done()
		for stage := range cancels {
			cancels[stage]()
			running[stage].Wait()
		}
		return nil
	})
	return g.Wait()
}
