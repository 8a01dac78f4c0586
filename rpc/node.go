package rpc

import (
	"context"
	"encoding/hex"
	"strings"
	"tally/rpc/rpcjson"
	"time"
)

// Version is the node version getnetworkinfo reports.
const (
	Version         = 100 // 0.1.0
	SubVersion      = "/tally:0.1.0/"
	ProtocolVersion = 1
)

var nodeMethods = []*method{
	{
		Name: "getnetworkinfo", Family: "Node", Public: true,
		Summary: "Returns the node's version, network and connection counts.",
		Result:  "{version, subversion, protocolversion, network, network_id, networkactive, connections, connections_in, connections_out, relayfee, localaddresses, warnings}",
		Handler: getNetworkInfo,
	},
	{
		Name: "getpeerinfo", Family: "Node",
		Summary: "Returns the connected peers.",
		Result:  "[{id (libp2p peer id), addr (multiaddr), inbound, conntime, subver, synced_height, pingtime, score, topics}]",
		Handler: getPeerInfo,
	},
	{
		Name: "getconnectioncount", Family: "Node", Public: true,
		Summary: "Returns the number of connected peers.",
		Result:  "count (number)",
		Handler: func(c *call) (any, error) {
			if c.s.deps.Peers == nil {
				return 0, nil
			}
			return c.s.deps.Peers.Count(), nil
		},
	},
	{
		Name: "addnode", Family: "Node",
		Params: []param{
			{Name: "node", Type: "string", Doc: "multiaddr with /p2p/<peer id>"},
			{Name: "command", Type: "string", Optional: true, Default: "onetry", Doc: "add or onetry (both connect now; the p2p layer remembers peers)"},
		},
		Summary: "Connects to a peer.",
		Result:  "null",
		Errors:  []string{"-8 unknown command", "-1 the connection failed (the message says why)"},
		Handler: addNode,
	},
	{
		Name: "uptime", Family: "Node", Public: true,
		Summary: "Returns the seconds since the node started.",
		Result:  "seconds (number)",
		Handler: func(c *call) (any, error) {
			return int64(c.s.now().Sub(c.s.startedAt) / time.Second), nil
		},
	},
	{
		Name: "stop", Family: "Node",
		Summary: "Stops the node, after answering.",
		Result:  "\"Tally server stopping\"",
		Handler: stopNode,
	},
	{
		Name: "help", Family: "Node", Public: true,
		Params:  []param{{Name: "command", Type: "string", Optional: true, Doc: "a method name"}},
		Summary: "Lists the methods, or explains one.",
		Result:  "text",
		Handler: help,
	},
}

func getNetworkInfo(c *call) (any, error) {
	s := c.s
	ni := rpcjson.NetworkInfo{
		Version: Version, SubVersion: SubVersion, ProtocolVersion: ProtocolVersion,
		Network: s.params.Network, NetworkID: hex.EncodeToString(s.params.NetworkID[:]),
		NetworkActive: true, RelayFee: s.deps.Mempool.Stats().MinRelayFee, LocalAddresses: []string{},
	}
	if p := s.deps.Peers; p != nil {
		for _, pi := range p.Info() {
			ni.Connections++
			if pi.Inbound {
				ni.ConnectionsIn++
			} else {
				ni.ConnectionsOut++
			}
		}
		if addrs := p.ListenAddrs(); addrs != nil {
			ni.LocalAddresses = addrs
		}
	}
	return ni, nil
}

func getPeerInfo(c *call) (any, error) {
	out := []PeerInfo{}
	if c.s.deps.Peers != nil {
		out = append(out, c.s.deps.Peers.Info()...)
	}
	return out, nil
}

func addNode(c *call) (any, error) {
	addr, err := c.str(0)
	if err != nil {
		return nil, err
	}
	cmd, err := c.optStr(1, "onetry")
	if err != nil {
		return nil, err
	}
	if cmd != "add" && cmd != "onetry" {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "unknown command %.32q: use add or onetry", cmd)
	}
	if c.s.deps.Peers == nil {
		return nil, rpcErr(rpcjson.CodeMisc, "the p2p layer is not running")
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := c.s.deps.Peers.AddNode(ctx, addr); err != nil {
		return nil, rpcErr(rpcjson.CodeMisc, "addnode %s: %v", addr, err)
	}
	return nil, nil
}

func stopNode(c *call) (any, error) {
	s := c.s
	if s.stopFn == nil {
		return nil, rpcErr(rpcjson.CodeMisc, "stop is not wired to the node")
	}
	c.after = func() { s.stopOnce.Do(s.stopFn) }
	return "Tally server stopping", nil
}

func help(c *call) (any, error) {
	name, err := c.optStr(0, "")
	if err != nil {
		return nil, err
	}
	if name != "" {
		m, ok := methodTable[name]
		if !ok || c.public && !m.Public {
			return "help: unknown command: " + name, nil
		}
		return m.help(), nil
	}
	var b strings.Builder
	family := ""
	for _, m := range sortedMethods() {
		if c.public && !m.Public {
			continue
		}
		if m.Family != family {
			if family != "" {
				b.WriteString("\n")
			}
			family = m.Family
			b.WriteString("== " + family + " ==\n")
		}
		b.WriteString(m.usage() + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
