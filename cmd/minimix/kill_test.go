package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// maxArchiveLoss is what the archive's write-behind may lose to a kill -9
// (storage/sqlite's maxArchiveQueue): records queued, not yet committed.
const maxArchiveLoss = 4096

// TestKillDurability floods messages at an account with no session, kills
// the server with SIGKILL in the middle, starts it again, and checks what
// docs/benchmarks.md promises: every message whose receipt stream
// management acknowledged (<a h/>) was stored for the offline recipient
// before the acknowledgement, so none is lost; the archive may lose only
// what was queued behind the flood, a bounded number of records.
func TestKillDurability(t *testing.T) {
	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{C2S: "offline_max = 100000\n"})
	p.AddUser("alice", "alice-secret")
	p.AddUser("bob", "bob-secret")

	alice := p.Login("alice", "alice-secret", "flood")
	alice.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	alice.Expect(xmpptest.NSSM, "enabled")

	var acked atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			n, err := alice.Next(20 * time.Second)
			if err != nil {
				return // the kill
			}
			if n.XMLName.Space == xmpptest.NSSM && n.XMLName.Local == "a" {
				if h, err := strconv.ParseInt(n.Attr("h"), 10, 64); err == nil && h > acked.Load() {
					acked.Store(h)
				}
			}
		}
	}()
	var sent atomic.Int64
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		for i := 0; i < 100000; i++ {
			msg := fmt.Sprintf(`<message to='bob@localhost' type='chat' id='m%d'><body>m%d</body></message>`, i, i)
			if i%20 == 19 {
				msg += "<r xmlns='urn:xmpp:sm:3'/>"
			}
			if alice.TrySend(msg) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for acked.Load() < 1500 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Kill()
	<-floodDone
	<-readerDone
	h := acked.Load()
	if h < 1500 {
		t.Fatalf("only %d messages acknowledged before the kill (%d sent)", h, sent.Load())
	}
	t.Logf("killed after %d messages sent, %d acknowledged", sent.Load(), h)

	p.Start()
	bob := p.Login("bob", "bob-secret", "phone")
	bob.Send("<presence/>")
	got := make(map[string]int)
	for {
		n, err := bob.Next(3 * time.Second)
		if err != nil {
			break
		}
		if b := n.Child("", "body"); n.XMLName.Local == "message" && b != nil {
			got[b.Text]++
		}
	}
	var lost []string
	for i := int64(0); i < h; i++ {
		body := fmt.Sprintf("m%d", i)
		if got[body] == 0 {
			lost = append(lost, body)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages lost, first %v", len(lost), lost[:min(5, len(lost))])
	}
	for body, n := range got {
		if n > 1 {
			t.Errorf("%s delivered %d times", body, n)
		}
	}

	// Alice's archive keeps her side of the flood except what was queued
	// when the server died.
	alice = p.Login("alice", "alice-secret", "count")
	alice.Send(`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>`)
	res := alice.ExpectStanza("archive count", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "q" })
	c := res.Find("fin/set/count")
	if c == nil {
		t.Fatalf("archive count: %s", res)
	}
	archived, _ := strconv.ParseInt(strings.TrimSpace(c.Text), 10, 64)
	t.Logf("archive: %d of %d acknowledged messages kept (write-behind lost %d)", archived, h, max(0, h-archived))
	if h-archived > maxArchiveLoss {
		t.Errorf("archive lost %d records, more than the queue bound %d", h-archived, maxArchiveLoss)
	}
}
