package adhoc

import (
	"context"

	"minimix/internal/dataform"
	"minimix/internal/jid"
)

// FormHandler returns the Handler of a two-stage command: the first step
// answers with the form form returns, the next (complete) passes the
// submitted form, checked for the fields the form requires, to submit. A
// first request that already carries a submitted form goes to submit at
// once, for scripts that know the form.
func FormHandler(form func(ctx context.Context) (*dataform.Form, error), submit func(ctx context.Context, from jid.JID, f *dataform.Form) (Response, error)) Handler {
	var asked *dataform.Form
	return HandlerFunc(func(ctx context.Context, req Request) (Response, error) {
		if asked == nil {
			f, err := form(ctx)
			if err != nil {
				return Response{}, err
			}
			asked = f
		}
		if req.Form == nil {
			if req.Action != Execute {
				return Response{}, BadPayload("submit the form")
			}
			return Response{Form: asked, Actions: []Action{Complete}, Default: Complete}, nil
		}
		if err := Required(asked, req.Form); err != nil {
			return Response{}, err
		}
		return submit(ctx, req.From, req.Form)
	})
}

// Required checks that sub gives a value to every field asked marks
// required (XEP-0004 section 3.2), else bad-payload.
func Required(asked, sub *dataform.Form) error {
	for _, f := range asked.Fields {
		if !f.Required {
			continue
		}
		ok := false
		for _, v := range sub.Values(f.Var) {
			if v != "" {
				ok = true
				break
			}
		}
		if !ok {
			label := f.Label
			if label == "" {
				label = f.Var
			}
			return BadPayload("the field " + f.Var + " (" + label + ") is required")
		}
	}
	return nil
}

// Result returns a Response completing the command with the result form
// of the fields.
func Result(formType string, fields ...dataform.Field) Response {
	return Response{Done: true, Form: dataform.New(dataform.TypeResult, formType, fields...)}
}

// Done returns a Response completing the command with notes of type t.
func Done(t NoteType, text ...string) Response {
	r := Response{Done: true}
	for _, s := range text {
		r.Notes = append(r.Notes, Note{Type: t, Text: s})
	}
	return r
}

// PingCommand is the command "ping" every user may run, answered with a
// note: what aioxmpp's end-to-end tests and Prosody's mod_ping offer to
// check that commands work.
func PingCommand() Command {
	return Command{
		Node: "ping",
		Name: "Ping",
		New: func() Handler {
			return HandlerFunc(func(ctx context.Context, req Request) (Response, error) {
				return Done(Info, "Pong"), nil
			})
		},
	}
}
