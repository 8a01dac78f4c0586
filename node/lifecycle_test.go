package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestServicesStopInOrder: when ctx ends, the stages stop one after the
// other, each only after the one before has returned.
func TestServicesStopInOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	svc := services{}
	for stage, names := range [][]string{{"rpc", "miner"}, {"p2p"}, {"mempool"}, {"chain"}} {
		for _, name := range names {
			svc.add(stage, name, func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(10 * time.Millisecond) // a stage takes a moment to stop
				mu.Lock()
				order = append(order, fmt.Sprint(stage))
				mu.Unlock()
				return nil
			})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := svc.run(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(order); got != "[0 0 1 2 3]" {
		t.Fatalf("stop order %s", got)
	}
}

// TestServiceFailureStopsAll: a failing service (the chain's storage
// failure) stops every other service, in order, and run returns its
// error; a service returning nil early is an error too.
func TestServiceFailureStopsAll(t *testing.T) {
	errDisk := errors.New("disk on fire")
	for _, c := range []struct {
		name string
		run  func(ctx context.Context) error
		want string
	}{
		{"error", func(ctx context.Context) error { return fmt.Errorf("storage failure: %w", errDisk) }, "chain: storage failure: disk on fire"},
		{"early nil", func(ctx context.Context) error { return nil }, "chain: chain stopped unexpectedly"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stopped sync.WaitGroup
			svc := services{}
			for stage := stageFront; stage < stageChain; stage++ {
				stopped.Add(1)
				svc.add(stage, fmt.Sprint("s", stage), func(ctx context.Context) error {
					defer stopped.Done()
					<-ctx.Done()
					return ctx.Err() // a cancelled service may say so: not a failure
				})
			}
			svc.add(stageChain, "chain", c.run)
			err := svc.run(context.Background(), slog.New(slog.DiscardHandler))
			if err == nil || err.Error() != c.want {
				t.Fatalf("run: %v, want %q", err, c.want)
			}
			stopped.Wait()
		})
	}
	// The wrapped error survives for errors.Is.
	svc := services{}
	svc.add(stageChain, "chain", func(context.Context) error { return errDisk })
	if err := svc.run(context.Background(), slog.New(slog.DiscardHandler)); !errors.Is(err, errDisk) {
		t.Fatalf("run: %v", err)
	}
}
