package push

import (
	"context"
	"strconv"
	"strings"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// answer is an app server's answer to a publish.
type answer struct {
	id   string
	from jid.JID
	err  *xmpperr.StanzaError // nil for a result
}

// work is the worker: it decides and publishes, takes the app servers'
// answers, and counts publishes that go unanswered, until Shutdown; then
// it handles what is queued and returns.
func (s *Service) work() {
	defer close(s.done)
	ctx := context.Background()
	tick := time.NewTicker(max(s.cfg.Timeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case j := <-s.jobs:
			s.handle(ctx, j)
		case a := <-s.answers:
			s.answered(ctx, a)
		case <-tick.C:
			s.expire(ctx, s.cfg.Now())
		case <-s.stop:
			for {
				select {
				case j := <-s.jobs:
					s.handle(ctx, j)
				default:
					return
				}
			}
		}
	}
}

// handle decides, for each registration of the account, whether j is
// pushed to it, and publishes.
func (s *Service) handle(ctx context.Context, j job) {
	regs := s.registrations(j.account)
	if len(regs) == 0 {
		return
	}
	if j.kind == groupchat {
		switch s.roomSetting(ctx, j.account, j.room) {
		case Never:
			return
		case OnMention:
			if !j.mentioned {
				return
			}
		}
	}
	for _, r := range regs {
		if s.awake(r) {
			// Its client is listening: it has seen everything so far.
			s.rmu.Lock()
			r.count = 0
			s.rmu.Unlock()
			continue
		}
		if j.kind == direct && !j.to.IsBare() && j.to.Resource != r.resource && j.typ != "chat" {
			// A normal message to another resource of the account: the
			// phone would not get it, not even as a carbon.
			continue
		}
		s.rmu.Lock()
		fresh := r.markSeen(j.key)
		if fresh {
			r.count++
		}
		count := r.count
		s.rmu.Unlock()
		if !fresh {
			continue
		}
		s.publish(ctx, r, j, count)
	}
}

// roomSetting is the account's setting for room: its bookmark's, else the
// configured default. Settings are read once per account and kept until
// its bookmarks change.
func (s *Service) roomSetting(ctx context.Context, account, room jid.JID) Notify {
	s.rmu.Lock()
	settings, ok := s.rooms[account]
	s.rmu.Unlock()
	if !ok && s.cfg.Rooms != nil {
		var err error
		settings, err = s.cfg.Rooms(ctx, account)
		if err != nil {
			// Counted as no setting for now, and read again next time.
			s.log.Error("push: room settings unreadable", "account", account.String(), "err", err)
		} else {
			s.rmu.Lock()
			s.rooms[account] = settings
			s.rmu.Unlock()
		}
	}
	if n, ok := settings[room]; ok {
		return n
	}
	return s.set().RoomDefault
}

// publish sends r's app server the summary of XEP-0357 section 7: the
// count of messages since the client last listened, and the last
// message's sender and body as configured.
func (s *Service) publish(ctx context.Context, r *registration, j job, count int) {
	form := xml.New(nsData, "x", "type", "submit")
	form.Append(field("FORM_TYPE", NSSummary))
	form.Append(field("message-count", strconv.Itoa(count)))
	if s.set().IncludeSender && j.sender != "" {
		form.Append(field("last-message-sender", j.sender))
	}
	if s.set().IncludeBody && j.body != "" {
		form.Append(field("last-message-body", j.body))
	}
	pubsub := xml.New(nsPubSub, "pubsub").Append(
		xml.New(nsPubSub, "publish", "node", r.node).Append(
			xml.New(nsPubSub, "item").Append(
				xml.New(NS, "notification").Append(form))))
	if r.options != nil {
		pubsub.Append(xml.New(nsPubSub, "publish-options").Append(r.options.Clone()))
	}
	s.rmu.Lock()
	s.seq++
	id := s.idPrefix + strconv.FormatUint(s.seq, 10)
	if len(s.pending) < maxPending {
		s.pending[id] = &pending{reg: r, deadline: s.cfg.Now().Add(s.cfg.Timeout)}
	}
	s.rmu.Unlock()
	s.Stats.Published.Add(1)
	s.cfg.Sender.Route(ctx, stanza.NewIQ("set", id, r.account.String(), r.service.String(), pubsub), r.account, r.service)
}

const nsData = "jabber:x:data"

func field(v, value string) *xml.Element {
	return xml.New(nsData, "field", "var", v).Append(xml.New(nsData, "value").AppendText(value))
}

// FromSession implements router.Interceptor; the service takes nothing a
// session sends.
func (s *Service) FromSession(context.Context, router.Session, *xml.Element, jid.JID) bool {
	return false
}

// ToLocal implements router.Interceptor: it takes the app servers'
// answers to the service's publishes (iq results and errors to the
// account, with the service's ids) and hands them to the worker.
func (s *Service) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	if el.Local != stanza.IQ || !to.IsBare() || !strings.HasPrefix(el.Attr("id"), s.idPrefix) {
		return false
	}
	a := answer{id: el.Attr("id"), from: from}
	switch el.Attr("type") {
	case "result":
	case "error":
		a.err = xmpperr.FromElement(el)
		if a.err == nil {
			a.err = xmpperr.New(xmpperr.UndefinedConditionC, "")
		}
	default:
		return false
	}
	select {
	case s.answers <- a:
	default:
		// The worker is far behind; the publish will count as
		// unanswered, which is what it is to the service.
		s.log.Debug("push: answer queue full", "id", a.id)
	}
	return true
}

// answered applies an app server's answer (XEP-0357 section 7.1): a
// result clears the failures; an error of type wait counts as a
// temporary failure, any other disables the registration at once.
func (s *Service) answered(ctx context.Context, a answer) {
	s.rmu.Lock()
	p, ok := s.pending[a.id]
	if !ok || p.reg.service != a.from {
		s.rmu.Unlock()
		return // unknown, expired, or not from the service asked
	}
	delete(s.pending, a.id)
	r := p.reg
	if a.err == nil {
		r.failures = 0
		s.rmu.Unlock()
		return
	}
	s.Stats.Failed.Add(1)
	r.failures++
	disable := a.err.Type != xmpperr.Wait || r.failures >= s.set().MaxFailures
	s.rmu.Unlock()
	s.log.Info("push: app server refused a notification", "account", r.account.String(), "service", r.service.String(),
		"node", r.node, "condition", a.err.Condition, "type", a.err.Type, "disabling", disable)
	if disable {
		s.disable(ctx, r)
	}
}

// expire counts the publishes unanswered at now as temporary failures.
func (s *Service) expire(ctx context.Context, now time.Time) {
	var off []*registration
	s.rmu.Lock()
	for id, p := range s.pending {
		if now.Before(p.deadline) {
			continue
		}
		delete(s.pending, id)
		s.Stats.Failed.Add(1)
		p.reg.failures++
		if p.reg.failures >= s.set().MaxFailures {
			off = append(off, p.reg)
		}
	}
	s.rmu.Unlock()
	for _, r := range off {
		s.log.Info("push: app server does not answer; disabling", "account", r.account.String(), "service", r.service.String(), "node", r.node)
		s.disable(ctx, r)
	}
}

// disable removes r, unless the client enabled it again meanwhile.
func (s *Service) disable(ctx context.Context, r *registration) {
	s.mu.Lock()
	removed := false
	s.update(r.account, func(regs []*registration) []*registration {
		var out []*registration
		for _, x := range regs {
			if x == r {
				removed = true
				continue
			}
			out = append(out, x)
		}
		return out
	})
	if removed {
		if err := s.cfg.Store.DeletePushRegistrations(ctx, r.account.Local, r.service.String(), r.node); err != nil {
			s.log.Error("push: disabled registration not deleted from storage", "account", r.account.String(), "service", r.service.String(), "err", err)
		}
	}
	s.mu.Unlock()
	if removed {
		s.Stats.Disabled.Add(1)
	}
}
