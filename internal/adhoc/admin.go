package adhoc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NSAdmin is the namespace of service administration (XEP-0133): the
// FORM_TYPE of its forms and the prefix of its command nodes.
const NSAdmin = "http://jabber.org/protocol/admin"

// The command nodes of XEP-0133 the server offers.
const (
	NodeAddUser             = NSAdmin + "#add-user"
	NodeDeleteUser          = NSAdmin + "#delete-user"
	NodeChangeUserPassword  = NSAdmin + "#change-user-password"
	NodeEndUserSession      = NSAdmin + "#end-user-session"
	NodeRegisteredUsersNum  = NSAdmin + "#get-registered-users-num"
	NodeOnlineUsersNum      = NSAdmin + "#get-online-users-num"
	NodeRegisteredUsersList = NSAdmin + "#get-registered-users-list"
	NodeOnlineUsersList     = NSAdmin + "#get-online-users-list"
	NodeAnnounce            = NSAdmin + "#announce"
)

// maxAccountJIDsPerCommand bounds the JIDs one delete-user or
// end-user-session acts on.
const maxAccountJIDsPerCommand = 1000

// Accounts is what the administration commands change. Each method goes
// through the same path as the command line (minimix user ...): Delete
// also ends the account's sessions and its rooms. Add returns an error
// wrapping storage.ErrExists for a taken name, Delete and SetPassword one
// wrapping storage.ErrNotFound for an unknown account; a refused password
// is an error carrying a *xmpperr.StanzaError for the requester.
type Accounts interface {
	Add(ctx context.Context, name, password string) error
	Delete(ctx context.Context, name string) error
	SetPassword(ctx context.Context, name, password string) error
	List(ctx context.Context) ([]string, error)
}

// Sessions is what the administration commands see of connected clients.
type Sessions interface {
	// Online returns the full JIDs of the bound client sessions.
	Online() []jid.JID
	// End ends every session of a bare JID, or the session of a full
	// JID, and returns how many it ended.
	End(j jid.JID) int
	// Deliver hands el to the session of the full JID to, if it is still
	// there.
	Deliver(to jid.JID, el *xml.Element) bool
}

// AdminConfig is what the administration commands work with.
type AdminConfig struct {
	// Domain is the server's domain; accounts are on it.
	Domain string
	// IsAdmin reports whether a requester (full JID) may run them.
	IsAdmin  func(from jid.JID) bool
	Accounts Accounts
	Sessions Sessions
}

// AdminCommands returns the service administration commands of XEP-0133
// that the server offers, with the node names and form fields of the
// XEP, for admins only.
func AdminCommands(cfg AdminConfig) []Command {
	a := &admin{cfg}
	cmd := func(node, name string, h func() Handler) Command {
		return Command{Node: node, Name: name, Allowed: cfg.IsAdmin, New: h}
	}
	now := func(f func(ctx context.Context) (Response, error)) func() Handler {
		return func() Handler {
			return HandlerFunc(func(ctx context.Context, req Request) (Response, error) { return f(ctx) })
		}
	}
	withForm := func(form func() *dataform.Form, submit func(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error)) func() Handler {
		return func() Handler {
			return FormHandler(func(context.Context) (*dataform.Form, error) { return form(), nil }, submit)
		}
	}
	return []Command{
		cmd(NodeAddUser, "Add a User", withForm(addUserForm, a.addUser)),
		cmd(NodeDeleteUser, "Delete Users", withForm(accountsForm("Deleting Users", "Fill out this form to delete users.", "The Jabber ID(s) to delete"), a.deleteUsers)),
		cmd(NodeChangeUserPassword, "Change User Password", withForm(changePasswordForm, a.changePassword)),
		cmd(NodeEndUserSession, "End User Sessions", withForm(accountsForm("Ending User Sessions", "Fill out this form to end users' sessions: a bare JID ends all of the user's sessions, a full JID that one.", "The Jabber ID(s) whose sessions to end"), a.endSessions)),
		cmd(NodeRegisteredUsersNum, "Get Number of Registered Users", now(a.registeredNum)),
		cmd(NodeOnlineUsersNum, "Get Number of Online Users", now(a.onlineNum)),
		cmd(NodeRegisteredUsersList, "Get List of Registered Users", withForm(listForm("Requesting List of Registered Users", "registered"), a.registeredList)),
		cmd(NodeOnlineUsersList, "Get List of Online Users", withForm(listForm("Requesting List of Online Users", "online"), a.onlineList)),
		cmd(NodeAnnounce, "Send Announcement to Online Users", withForm(announceForm, a.announce)),
	}
}

type admin struct{ cfg AdminConfig }

func form(title, instructions string, fields ...dataform.Field) *dataform.Form {
	f := dataform.New(dataform.TypeForm, NSAdmin, fields...)
	f.Title = title
	f.Instructions = []string{instructions}
	return f
}

func addUserForm() *dataform.Form {
	return form("Adding a User", "Fill out this form to add a user.",
		dataform.Field{Var: "accountjid", Type: dataform.JIDSingle, Label: "The Jabber ID for the account to be added", Required: true},
		dataform.Field{Var: "password", Type: dataform.TextPrivate, Label: "The password for this account", Required: true},
		dataform.Field{Var: "password-verify", Type: dataform.TextPrivate, Label: "Retype password"},
		dataform.Field{Var: "email", Type: dataform.TextSingle, Label: "Email address"},
		dataform.Field{Var: "given_name", Type: dataform.TextSingle, Label: "Given name"},
		dataform.Field{Var: "surname", Type: dataform.TextSingle, Label: "Family name"},
	)
}

func changePasswordForm() *dataform.Form {
	return form("Changing a User Password", "Fill out this form to change a user's password.",
		dataform.Field{Var: "accountjid", Type: dataform.JIDSingle, Label: "The Jabber ID for this account", Required: true},
		dataform.Field{Var: "password", Type: dataform.TextPrivate, Label: "The password for this account", Required: true},
	)
}

func accountsForm(title, instructions, label string) func() *dataform.Form {
	return func() *dataform.Form {
		return form(title, instructions,
			dataform.Field{Var: "accountjids", Type: dataform.JIDMulti, Label: label, Required: true})
	}
}

// maxItemsChoices are the max_items values XEP-0133 offers for lists.
var maxItemsChoices = []string{"25", "50", "75", "100", "150", "200", "none"}

func listForm(title, what string) func() *dataform.Form {
	return func() *dataform.Form {
		fl := dataform.Field{Var: "max_items", Type: dataform.ListSingle, Label: "Maximum number of items to show", Values: []string{"100"}}
		for _, c := range maxItemsChoices {
			label := c
			if c == "none" {
				label = "None"
			}
			fl.Options = append(fl.Options, dataform.Option{Label: label, Value: c})
		}
		return form(title, "Fill out this form to request the "+what+" users of this service.", fl)
	}
}

func announceForm() *dataform.Form {
	return form("Making an Announcement", "Fill out this form to make an announcement to all active users of this service.",
		dataform.Field{Var: "announcement", Type: dataform.TextMulti, Label: "Announcement", Required: true})
}

// account reads a JID of a field as a local account: its localpart, and
// the full JID as given.
func (a *admin) account(v string) (string, jid.JID, error) {
	j, err := jid.Parse(v)
	if err != nil {
		return "", jid.JID{}, BadPayload(fmt.Sprintf("%q is not a JID: %v", v, err))
	}
	if j.Local == "" || j.Domain != a.cfg.Domain {
		return "", jid.JID{}, BadPayload(fmt.Sprintf("%s is not an account of %s", j, a.cfg.Domain))
	}
	return j.Local, j, nil
}

// stanzaErr returns the stanza error in err's chain (a refused password),
// or err.
func stanzaErr(err error) error {
	if se, ok := errors.AsType[*xmpperr.StanzaError](err); ok {
		return se
	}
	return err
}

func (a *admin) addUser(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	name, _, err := a.account(f.Value("accountjid"))
	if err != nil {
		return Response{}, err
	}
	pw := f.Value("password")
	if f.Field("password-verify") != nil && f.Value("password-verify") != pw {
		return Response{}, BadPayload("the passwords do not match")
	}
	switch err := a.cfg.Accounts.Add(ctx, name, pw); {
	case errors.Is(err, storage.ErrExists):
		return Response{}, xmpperr.New(xmpperr.ConflictC, "the account "+name+"@"+a.cfg.Domain+" exists")
	case err != nil:
		return Response{}, stanzaErr(err)
	}
	return Done(Info, "Account "+name+"@"+a.cfg.Domain+" created."), nil
}

func (a *admin) changePassword(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	name, _, err := a.account(f.Value("accountjid"))
	if err != nil {
		return Response{}, err
	}
	switch err := a.cfg.Accounts.SetPassword(ctx, name, f.Value("password")); {
	case errors.Is(err, storage.ErrNotFound):
		return Response{}, xmpperr.New(xmpperr.ItemNotFound, "no account "+name+"@"+a.cfg.Domain)
	case err != nil:
		return Response{}, stanzaErr(err)
	}
	return Done(Info, "Password of "+name+"@"+a.cfg.Domain+" changed."), nil
}

// jids reads the accountjids field: local account JIDs, at most
// maxAccountJIDsPerCommand of them.
func (a *admin) jids(f *dataform.Form) ([]string, []jid.JID, error) {
	vals := f.Values("accountjids")
	if len(vals) > maxAccountJIDsPerCommand {
		return nil, nil, BadPayload(fmt.Sprintf("at most %d JIDs at once", maxAccountJIDsPerCommand))
	}
	var names []string
	var js []jid.JID
	for _, v := range vals {
		if strings.TrimSpace(v) == "" {
			continue
		}
		name, j, err := a.account(v)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, name)
		js = append(js, j)
	}
	if len(js) == 0 {
		return nil, nil, BadPayload("the field accountjids is required")
	}
	return names, js, nil
}

// deleteUsers deletes each account, completing with a note of those that
// did not exist (type error, as XEP-0050 wants for a command that failed
// in part).
func (a *admin) deleteUsers(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	names, _, err := a.jids(f)
	if err != nil {
		return Response{}, err
	}
	var deleted, missing []string
	for _, n := range names {
		switch err := a.cfg.Accounts.Delete(ctx, n); {
		case errors.Is(err, storage.ErrNotFound):
			missing = append(missing, n+"@"+a.cfg.Domain)
		case err != nil:
			return Response{}, fmt.Errorf("adhoc: delete-user %s: %w", n, err)
		default:
			deleted = append(deleted, n+"@"+a.cfg.Domain)
		}
	}
	return summary("Deleted: ", deleted, "No such account: ", missing), nil
}

// summary completes a command over several JIDs with a note of those it
// did and an error note of those it could not.
func summary(did string, done []string, failed string, fails []string) Response {
	r := Response{Done: true}
	if len(done) > 0 {
		r.Notes = append(r.Notes, Note{Info, did + strings.Join(done, ", ")})
	}
	if len(fails) > 0 {
		r.Notes = append(r.Notes, Note{Error, failed + strings.Join(fails, ", ")})
	}
	return r
}

func (a *admin) endSessions(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	_, js, err := a.jids(f)
	if err != nil {
		return Response{}, err
	}
	var ended, none []string
	for _, j := range js {
		if a.cfg.Sessions.End(j) > 0 {
			ended = append(ended, j.String())
		} else {
			none = append(none, j.String())
		}
	}
	return summary("Sessions ended: ", ended, "No session: ", none), nil
}

func (a *admin) registered(ctx context.Context) ([]string, error) {
	names, err := a.cfg.Accounts.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("adhoc: list accounts: %w", err)
	}
	return names, nil
}

// online returns the bare JIDs of the accounts with a session, sorted.
func (a *admin) online() []string {
	var out []string
	for _, j := range a.cfg.Sessions.Online() {
		out = append(out, j.Bare().String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (a *admin) registeredNum(ctx context.Context) (Response, error) {
	names, err := a.registered(ctx)
	if err != nil {
		return Response{}, err
	}
	return Result(NSAdmin, dataform.Field{Var: "registeredusersnum", Label: "The number of registered users", Values: []string{strconv.Itoa(len(names))}}), nil
}

func (a *admin) onlineNum(ctx context.Context) (Response, error) {
	return Result(NSAdmin, dataform.Field{Var: "onlineusersnum", Label: "The number of online users", Values: []string{strconv.Itoa(len(a.online()))}}), nil
}

// maxItems reads the max_items field of a list request: 0 for none.
func maxItems(f *dataform.Form) (int, error) {
	switch v := f.Value("max_items"); v {
	case "", "none":
		return 0, nil
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, BadPayload("max_items is a positive number or none")
		}
		return n, nil
	}
}

func (a *admin) registeredList(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	max, err := maxItems(f)
	if err != nil {
		return Response{}, err
	}
	names, err := a.registered(ctx)
	if err != nil {
		return Response{}, err
	}
	jids := make([]string, len(names))
	for i, n := range names {
		jids[i] = n + "@" + a.cfg.Domain
	}
	return list("registereduserjids", "The list of all users", jids, max), nil
}

func (a *admin) onlineList(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	max, err := maxItems(f)
	if err != nil {
		return Response{}, err
	}
	return list("onlineuserjids", "The list of all online users", a.online(), max), nil
}

// list completes a list command with at most max (0: all) of jids, and a
// note saying how many were left out.
func list(v, label string, jids []string, max int) Response {
	total := len(jids)
	if max > 0 && total > max {
		jids = jids[:max]
	}
	r := Result(NSAdmin, dataform.Field{Var: v, Type: dataform.JIDMulti, Label: label, Values: jids})
	if len(jids) < total {
		r.Notes = append(r.Notes, Note{Info, fmt.Sprintf("%d of %d shown", len(jids), total)})
	}
	return r
}

// announce sends the announcement to every session, as a headline
// message from the server (as Prosody's mod_announce does).
func (a *admin) announce(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error) {
	text := strings.Join(f.Values("announcement"), "\n")
	if strings.TrimSpace(text) == "" {
		return Response{}, BadPayload("the announcement is empty")
	}
	sent := 0
	for _, to := range a.cfg.Sessions.Online() {
		m := xml.New(xml.NSClient, stanza.Message, "from", a.cfg.Domain, "to", to.String(), "type", "headline")
		m.Append(xml.New(xml.NSClient, "body").AppendText(text))
		if a.cfg.Sessions.Deliver(to, m) {
			sent++
		}
	}
	return Done(Info, fmt.Sprintf("Announcement sent to %d sessions.", sent)), nil
}
