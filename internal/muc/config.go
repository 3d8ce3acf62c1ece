package muc

import (
	"encoding/json"
	"fmt"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/xmpperr"
)

// Values of muc#roomconfig_whois and muc#roomconfig_allowpm.
const (
	whoisModerators = "moderators" // semi-anonymous
	whoisAnyone     = "anyone"     // non-anonymous

	pmAnyone       = "anyone"
	pmParticipants = "participants"
	pmModerators   = "moderators"
	pmNone         = "none"
)

// roomConfig is a room's configuration (XEP-0045 section 10.2). It is
// stored as JSON; a field added later takes its default in rooms stored
// before.
type roomConfig struct {
	Name              string `json:"name,omitempty"`
	Description       string `json:"description,omitempty"`
	Persistent        bool   `json:"persistent"`
	Public            bool   `json:"public"`
	MembersOnly       bool   `json:"members_only"`
	Moderated         bool   `json:"moderated"`
	PasswordProtected bool   `json:"password_protected"`
	Password          string `json:"password,omitempty"`
	Whois             string `json:"whois"`
	// MaxUsers is the room's occupant limit; 0 is the service's.
	MaxUsers int `json:"max_users"`
	// HistoryLength is how many messages are kept for joiners.
	HistoryLength int `json:"history_length"`
	// ChangeSubject lets participants, not only moderators, change the
	// subject.
	ChangeSubject bool   `json:"change_subject"`
	AllowPM       string `json:"allow_pm"`
	// AllowInvites lets participants invite to a members-only room.
	AllowInvites bool `json:"allow_invites"`
	// Logging keeps the room's archive (XEP-0313), announced with 170.
	Logging bool `json:"logging"`
}

// defaultConfig is a new room's configuration, which an instant room
// keeps (section 10.1.2).
func (s *Service) defaultConfig() roomConfig {
	return roomConfig{
		Public:        true,
		Whois:         whoisModerators,
		HistoryLength: max(s.defaults().historyLength, s.defaults().historyDefault),
		AllowPM:       pmAnyone,
		Logging:       true,
	}
}

func (c *roomConfig) passwordRequired() bool { return c.PasswordProtected && c.Password != "" }

func (c roomConfig) marshal() []byte {
	b, _ := json.Marshal(c)
	return b
}

// unmarshalConfig reads a stored configuration over the defaults.
func (s *Service) unmarshalConfig(b []byte) (roomConfig, error) {
	c := s.defaultConfig()
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	c.HistoryLength = max(0, min(c.HistoryLength, s.cfg.Limits.MaxHistoryLength))
	return c, nil
}

// Field vars of muc#roomconfig.
const (
	fName          = "muc#roomconfig_roomname"
	fDesc          = "muc#roomconfig_roomdesc"
	fPersistent    = "muc#roomconfig_persistentroom"
	fPublic        = "muc#roomconfig_publicroom"
	fMembersOnly   = "muc#roomconfig_membersonly"
	fModerated     = "muc#roomconfig_moderatedroom"
	fPasswordProt  = "muc#roomconfig_passwordprotectedroom"
	fSecret        = "muc#roomconfig_roomsecret"
	fWhois         = "muc#roomconfig_whois"
	fMaxUsers      = "muc#roomconfig_maxusers"
	fHistory       = "muc#maxhistoryfetch"
	fChangeSubject = "muc#roomconfig_changesubject"
	fAllowPM       = "muc#roomconfig_allowpm"
	fAllowInvites  = "muc#roomconfig_allowinvites"
	fLogging       = "muc#roomconfig_enablelogging"
)

// form is the configuration form with c's values (section 10.2).
func (c roomConfig) form(serviceMax, maxHistory int) *dataform.Form {
	b := dataform.FormatBool
	maxUsers := "none"
	if c.MaxUsers > 0 {
		maxUsers = strconv.Itoa(c.MaxUsers)
	}
	var userOpts []dataform.Option
	for _, n := range []int{10, 20, 30, 50, 100, 200, 500, 1000} {
		if n < serviceMax {
			userOpts = append(userOpts, dataform.Option{Label: strconv.Itoa(n), Value: strconv.Itoa(n)})
		}
	}
	userOpts = append(userOpts, dataform.Option{Label: "The service's maximum (" + strconv.Itoa(serviceMax) + ")", Value: "none"})
	f := dataform.New(dataform.TypeForm, NSRoomConfig,
		dataform.Field{Var: fName, Type: dataform.TextSingle, Label: "Room name", Values: []string{c.Name}},
		dataform.Field{Var: fDesc, Type: dataform.TextSingle, Label: "Room description", Values: []string{c.Description}},
		dataform.Field{Var: fPersistent, Type: dataform.Boolean, Label: "Keep the room when it is empty", Values: []string{b(c.Persistent)}},
		dataform.Field{Var: fPublic, Type: dataform.Boolean, Label: "List the room publicly", Values: []string{b(c.Public)}},
		dataform.Field{Var: fMembersOnly, Type: dataform.Boolean, Label: "Members only", Values: []string{b(c.MembersOnly)}},
		dataform.Field{Var: fModerated, Type: dataform.Boolean, Label: "Only occupants with voice may speak", Values: []string{b(c.Moderated)}},
		dataform.Field{Var: fPasswordProt, Type: dataform.Boolean, Label: "A password is required to enter", Values: []string{b(c.PasswordProtected)}},
		dataform.Field{Var: fSecret, Type: dataform.TextPrivate, Label: "Password", Values: []string{c.Password}},
		dataform.Field{Var: fWhois, Type: dataform.ListSingle, Label: "Who may see real JIDs", Values: []string{c.Whois},
			Options: []dataform.Option{{Label: "Moderators only", Value: whoisModerators}, {Label: "Anyone", Value: whoisAnyone}}},
		dataform.Field{Var: fMaxUsers, Type: dataform.ListSingle, Label: "Maximum number of occupants", Values: []string{maxUsers}, Options: userOpts},
		dataform.Field{Var: fHistory, Type: dataform.TextSingle, Label: "Messages kept for people who join (0 to " + strconv.Itoa(maxHistory) + ")",
			Values: []string{strconv.Itoa(c.HistoryLength)}},
		dataform.Field{Var: fChangeSubject, Type: dataform.Boolean, Label: "Participants may change the subject", Values: []string{b(c.ChangeSubject)}},
		dataform.Field{Var: fAllowPM, Type: dataform.ListSingle, Label: "Who may send private messages", Values: []string{c.AllowPM},
			Options: []dataform.Option{{Label: "Anyone", Value: pmAnyone}, {Label: "Participants", Value: pmParticipants},
				{Label: "Moderators", Value: pmModerators}, {Label: "Nobody", Value: pmNone}}},
		dataform.Field{Var: fAllowInvites, Type: dataform.Boolean, Label: "Participants may invite to a members-only room", Values: []string{b(c.AllowInvites)}},
		dataform.Field{Var: fLogging, Type: dataform.Boolean, Label: "Keep a message archive", Values: []string{b(c.Logging)}},
	)
	f.Title = "Room configuration"
	return f
}

// apply returns c changed by a submitted form. Fields this service does
// not know are ignored, as XEP-0004 allows; bad values are not-acceptable
// (section 10.2), a malformed form is bad-request.
func (c roomConfig) apply(f *dataform.Form, serviceMax, maxHistory int) (roomConfig, error) {
	if len(f.Fields) > maxFormFields {
		return c, xmpperr.New(xmpperr.PolicyViolationC, "too many fields")
	}
	if ft := f.FormType(); ft != "" && ft != NSRoomConfig {
		return c, xmpperr.New(xmpperr.BadRequest, "the FORM_TYPE must be "+NSRoomConfig)
	}
	notAcceptable := func(v, why string) error {
		return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("%s: %s", v, why))
	}
	protectSet := false
	for i := range f.Fields {
		fl := &f.Fields[i]
		if len(fl.Values) > 1 {
			return c, xmpperr.New(xmpperr.BadRequest, fl.Var+" takes one value")
		}
		v := fl.Value()
		boolean := func(dst *bool) error {
			bv, err := dataform.ParseBool(v)
			if err != nil {
				return xmpperr.New(xmpperr.BadRequest, fl.Var+" is not a boolean")
			}
			*dst = bv
			return nil
		}
		text := func(dst *string) error {
			if len(v) > maxTextField {
				return notAcceptable(fl.Var, "too long")
			}
			*dst = v
			return nil
		}
		var err error
		switch fl.Var {
		case fName:
			err = text(&c.Name)
		case fDesc:
			err = text(&c.Description)
		case fSecret:
			err = text(&c.Password)
		case fPersistent:
			err = boolean(&c.Persistent)
		case fPublic:
			err = boolean(&c.Public)
		case fMembersOnly:
			err = boolean(&c.MembersOnly)
		case fModerated:
			err = boolean(&c.Moderated)
		case fPasswordProt:
			protectSet = true
			err = boolean(&c.PasswordProtected)
		case fChangeSubject:
			err = boolean(&c.ChangeSubject)
		case fAllowInvites:
			err = boolean(&c.AllowInvites)
		case fLogging:
			err = boolean(&c.Logging)
		case fWhois:
			if v != whoisModerators && v != whoisAnyone {
				return c, notAcceptable(fl.Var, "want moderators or anyone")
			}
			c.Whois = v
		case fAllowPM:
			switch v {
			case pmAnyone, pmParticipants, pmModerators, pmNone:
				c.AllowPM = v
			default:
				return c, notAcceptable(fl.Var, "want anyone, participants, moderators or none")
			}
		case fMaxUsers:
			switch v {
			case "", "none", "0":
				c.MaxUsers = 0
			default:
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > serviceMax {
					return c, notAcceptable(fl.Var, fmt.Sprintf("want a number from 1 to %d, or none", serviceMax))
				}
				c.MaxUsers = n
			}
		case fHistory:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxHistory {
				return c, notAcceptable(fl.Var, fmt.Sprintf("want a number from 0 to %d", maxHistory))
			}
			c.HistoryLength = n
		}
		if err != nil {
			return c, err
		}
	}
	if !protectSet && f.Field(fSecret) != nil {
		// A form that sets only the password means it.
		c.PasswordProtected = c.Password != ""
	}
	if c.PasswordProtected && c.Password == "" {
		return c, xmpperr.New(xmpperr.NotAcceptable, "a password-protected room needs a password")
	}
	return c, nil
}
