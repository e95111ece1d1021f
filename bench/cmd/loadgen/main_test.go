package main

import "testing"

func TestParseCluster(t *testing.T) {
	c, err := parseCluster("", "", 0)
	if c != nil || err != nil {
		t.Errorf("no -urls: %v, %v", c, err)
	}
	c, err = parseCluster("http://127.0.0.1:1,http://127.0.0.1:2", "10, 11", 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.urls) != 2 || c.pids[0] != 10 || c.pids[1] != 11 {
		t.Errorf("cluster = %+v", c)
	}
	procs := c.procs()
	if len(procs) != 2 || procs[0].Label != "node 2" || procs[0].PID != 11 || procs[1].Label != "redis" || procs[1].PID != 12 {
		t.Errorf("procs = %+v", procs)
	}
	for _, bad := range [][3]any{
		{"", "1", 0},                 // -pids without -urls
		{"", "", 5},                  // -redis-pid without -urls
		{"http://10.0.0.1:1", "", 0}, // not loopback
		{"http://127.0.0.1:1,http://127.0.0.1:2", "1", 0}, // one pid for two nodes
		{"http://127.0.0.1:1", "x", 0},                    // not a number
		{"http://127.0.0.1:1", "", 3},                     // -redis-pid without -pids
	} {
		if _, err := parseCluster(bad[0].(string), bad[1].(string), bad[2].(int)); err == nil {
			t.Errorf("parseCluster(%q, %q, %d) accepted", bad[0], bad[1], bad[2])
		}
	}
}
