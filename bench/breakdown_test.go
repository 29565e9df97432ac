package main

import "testing"

func TestParseHeapProfileScalesAndGroups(t *testing.T) {
	const text = `heap profile: 3: 4096 [10: 8192] @ heap/1048576
1: 4096 [1: 4096] @ 0x1 0x2 0x3 0x4
#	0x1	runtime.mallocgc+0x1	/go/src/runtime/malloc.go:1
#	0x2	bufio.NewReaderSize+0x2	/go/src/bufio/bufio.go:2
#	0x3	net/http.newBufioReader+0x3	/go/src/net/http/server.go:3
#	0x4	net/http.(*conn).serve+0x4	/go/src/net/http/server.go:4

2: 64 [9: 4096] @ 0x5 0x6
#	0x5	github.com/x/y/internal/relay.relaySSE+0x5	/y/relay.go:5
#	0x6	github.com/x/y/internal/relay.relay+0x6	/y/relay.go:6


# runtime.MemStats
# Alloc = 1
`
	sites := parseHeapProfile(text)
	got := map[string]heapSite{}
	for _, s := range sites {
		got[s.site] = s
	}
	// One sampled 4 KiB object at a 512 KiB rate stands for about 128 of
	// them; two sampled 32-byte objects for about 32,768.
	if s := got["bufio.NewReaderSize ← http.newBufioReader ← http.(*conn).serve"]; s.bytes < 126*4096 || s.bytes > 130*4096 || s.objs != 129 {
		t.Errorf("bufio site %+v in %+v", s, sites)
	}
	if s := got["relay.relaySSE ← relay.relay"]; s.bytes < 1<<20-1024 || s.bytes > 1<<20+1024 {
		t.Errorf("relay site %+v in %+v", s, sites)
	}
	if len(sites) != 2 || sites[0].site != "relay.relaySSE ← relay.relay" {
		t.Errorf("sites %+v", sites)
	}
}
