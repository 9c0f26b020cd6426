package main

// The Automation API's values on the wire, in both of vCenter's forms.
//
// JSON-RPC (POST /api, what the SDK's json_connector speaks) tags every value that plain JSON
// cannot tell apart: a structure is {"STRUCTURE": {"<type name>": {fields}}}, an optional
// {"OPTIONAL": value-or-null}, a secret {"SECRET": "..."}, binary {"BINARY": "<base64>"}, an
// error {"ERROR": {"<error type>": {fields}}}; lists, strings, numbers and booleans are plain;
// a void result is null. The REST forms (/api/...) carry the same values as bare JSON: a
// structure is an object of its fields, an unset optional is left out.
//
// Input of either form is reduced to plain JSON data (objects, lists, strings, json.Number,
// booleans, nil for an unset optional) and read through vapiIn, so each operation is written
// once. Output is built from vapiStruct/vapiOpt/vapiSecret and encoded for the form asked.
// Bodies come from authenticated clients but are still bounded: size (vapiMaxBody) and nesting
// depth (vapiMaxDepth, checked by a scan before anything is decoded).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

const (
	vapiMaxBody  = 16 << 20 // a 1 MB data set value, escaped, with room to spare
	vapiMaxDepth = 32
)

// --- output values ---------------------------------------------------------------------------

// vapiStruct is a structure value: its vAPI type name and its fields in order.
type vapiStruct struct {
	name   string
	fields []vapiField
}

type vapiField struct {
	name  string
	value interface{}
}

// vapiOpt is an optional value; nil is unset.
type vapiOpt struct{ value interface{} }

// vapiSecret is a secret string (a session id).
type vapiSecret string

// vapiTime formats a DateTime as vAPI does.
func vapiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func newStruct(name string, kv ...interface{}) vapiStruct {
	s := vapiStruct{name: name}
	for i := 0; i+1 < len(kv); i += 2 {
		s.fields = append(s.fields, vapiField{kv[i].(string), kv[i+1]})
	}
	return s
}

// vapiEncodeRPC turns an output value into JSON-RPC's tagged form.
func vapiEncodeRPC(v interface{}) interface{} {
	switch x := v.(type) {
	case vapiStruct:
		fields := make(map[string]interface{}, len(x.fields))
		for _, f := range x.fields {
			fields[f.name] = vapiEncodeRPC(f.value)
		}
		return map[string]interface{}{"STRUCTURE": map[string]interface{}{x.name: fields}}
	case vapiOpt:
		if x.value == nil {
			return map[string]interface{}{"OPTIONAL": nil}
		}
		return map[string]interface{}{"OPTIONAL": vapiEncodeRPC(x.value)}
	case vapiSecret:
		return map[string]interface{}{"SECRET": string(x)}
	case []interface{}:
		out := make([]interface{}, len(x))
		for i := range x {
			out[i] = vapiEncodeRPC(x[i])
		}
		return out
	}
	return v
}

// vapiEncodeREST turns an output value into the bare JSON of the REST forms.
func vapiEncodeREST(v interface{}) interface{} {
	switch x := v.(type) {
	case vapiStruct:
		fields := make(map[string]interface{}, len(x.fields))
		for _, f := range x.fields {
			if o, ok := f.value.(vapiOpt); ok && o.value == nil {
				continue
			}
			fields[f.name] = vapiEncodeREST(f.value)
		}
		return fields
	case vapiOpt:
		if x.value == nil {
			return nil
		}
		return vapiEncodeREST(x.value)
	case vapiSecret:
		return string(x)
	case []interface{}:
		out := make([]interface{}, len(x))
		for i := range x {
			out[i] = vapiEncodeREST(x[i])
		}
		return out
	}
	return v
}

func vapiStrings(list []string) []interface{} {
	out := make([]interface{}, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// --- input values ----------------------------------------------------------------------------

// vapiDepthOK scans JSON text without decoding it: false when objects and arrays nest deeper
// than max (a deep document is refused before any recursive decoding sees it).
func vapiDepthOK(data []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return true
}

// vapiDecode parses a bounded JSON document with numbers kept exact.
func vapiDecode(data []byte) (interface{}, error) {
	if !vapiDepthOK(data, vapiMaxDepth) {
		return nil, fmt.Errorf("the document nests deeper than %d levels", vapiMaxDepth)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("data after the JSON document")
	}
	return v, nil
}

// vapiUnwrapRPC reduces JSON-RPC's tagged values to plain data. Every object of the input must
// be one of the tags (maps travel as lists of map-entry structures). The depth is bounded by
// vapiDecode's scan.
func vapiUnwrapRPC(v interface{}) (interface{}, error) {
	switch x := v.(type) {
	case []interface{}:
		out := make([]interface{}, len(x))
		for i := range x {
			u, err := vapiUnwrapRPC(x[i])
			if err != nil {
				return nil, err
			}
			out[i] = u
		}
		return out, nil
	case map[string]interface{}:
		if len(x) != 1 {
			return nil, fmt.Errorf("a value object must have exactly one type tag")
		}
		for tag, inner := range x {
			switch tag {
			case "OPTIONAL":
				if inner == nil {
					return nil, nil
				}
				return vapiUnwrapRPC(inner)
			case "SECRET":
				s, ok := inner.(string)
				if !ok {
					return nil, fmt.Errorf("SECRET must be a string")
				}
				return s, nil
			case "BINARY":
				s, ok := inner.(string)
				if !ok {
					return nil, fmt.Errorf("BINARY must be a base64 string")
				}
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("BINARY: %v", err)
				}
				return string(b), nil
			case "STRUCTURE":
				named, ok := inner.(map[string]interface{})
				if !ok || len(named) != 1 {
					return nil, fmt.Errorf("STRUCTURE must name exactly one structure type")
				}
				for _, fields := range named {
					obj, ok := fields.(map[string]interface{})
					if !ok {
						return nil, fmt.Errorf("a structure's fields must be an object")
					}
					out := make(map[string]interface{}, len(obj))
					for k, fv := range obj {
						u, err := vapiUnwrapRPC(fv)
						if err != nil {
							return nil, err
						}
						out[k] = u
					}
					return out, nil
				}
			}
			return nil, fmt.Errorf("unknown value tag %q", tag)
		}
	}
	return v, nil
}

// --- reading an operation's input ------------------------------------------------------------

// vapiIn is a structure of plain input data; absent and nil fields are unset.
type vapiIn map[string]interface{}

func vapiBadField(name, want string) *vapiError {
	return vapiErr("invalid_argument", "vapi.bindings.typeconverter.invalid",
		fmt.Sprintf("Invalid value for field '%s': expected %s.", name, want))
}

// only refuses fields the structure does not have, as vCenter's runtime does.
func (in vapiIn) only(fields ...string) *vapiError {
	for k := range in {
		if !vcContains(fields, k) {
			return vapiErr("invalid_argument", "vapi.data.structure.field.unexpected",
				fmt.Sprintf("Found unexpected field '%s' in the input structure.", k))
		}
	}
	return nil
}

func (in vapiIn) optStr(name string) (string, bool, *vapiError) {
	v, ok := in[name]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, vapiBadField(name, "a string")
	}
	return s, true, nil
}

func (in vapiIn) str(name string) (string, *vapiError) {
	s, set, err := in.optStr(name)
	if err == nil && !set {
		err = vapiErr("invalid_argument", "vapi.data.structure.field.missing",
			fmt.Sprintf("Structure is missing the field '%s'.", name))
	}
	return s, err
}

func (in vapiIn) optBool(name string) (bool, bool, *vapiError) {
	v, ok := in[name]
	if !ok || v == nil {
		return false, false, nil
	}
	switch b := v.(type) {
	case bool:
		return b, true, nil
	case string: // a REST query parameter
		if b == "true" || b == "false" {
			return b == "true", true, nil
		}
	}
	return false, false, vapiBadField(name, "a boolean")
}

func (in vapiIn) optStrList(name string) ([]string, bool, *vapiError) {
	v, ok := in[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	list, ok := v.([]interface{})
	if !ok {
		return nil, false, vapiBadField(name, "a list of strings")
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, false, vapiBadField(name, "a list of strings")
		}
		out = append(out, s)
	}
	return out, true, nil
}

func (in vapiIn) strList(name string) ([]string, *vapiError) {
	list, set, err := in.optStrList(name)
	if err == nil && !set {
		_, err = in.str(name) // the missing-field error
	}
	return list, err
}

// sub reads a nested structure and checks its fields.
func (in vapiIn) sub(name string, fields ...string) (vapiIn, *vapiError) {
	v, ok := in[name]
	if !ok || v == nil {
		_, err := in.str(name)
		return nil, err
	}
	obj, ok := v.(map[string]interface{})
	if !ok {
		return nil, vapiBadField(name, "a structure")
	}
	s := vapiIn(obj)
	return s, s.only(fields...)
}

// vapiDynID is com.vmware.vapi.std.dynamic_ID: an object by its type and id (a moref value).
type vapiDynID struct{ Type, ID string }

func (d vapiDynID) out() vapiStruct {
	return newStruct("com.vmware.vapi.std.dynamic_ID", "type", d.Type, "id", d.ID)
}

func vapiReadDynID(name string, v interface{}) (vapiDynID, *vapiError) {
	obj, ok := v.(map[string]interface{})
	if !ok {
		return vapiDynID{}, vapiBadField(name, "a dynamic_ID structure")
	}
	s := vapiIn(obj)
	if err := s.only("type", "id"); err != nil {
		return vapiDynID{}, err
	}
	t, err := s.str("type")
	if err != nil {
		return vapiDynID{}, err
	}
	id, err := s.str("id")
	return vapiDynID{t, id}, err
}

func (in vapiIn) dynID(name string) (vapiDynID, *vapiError) {
	if _, ok := in[name]; !ok {
		_, err := in.str(name)
		return vapiDynID{}, err
	}
	return vapiReadDynID(name, in[name])
}

func (in vapiIn) dynIDList(name string) ([]vapiDynID, *vapiError) {
	list, ok := in[name].([]interface{})
	if !ok {
		if _, present := in[name]; !present {
			_, err := in.str(name)
			return nil, err
		}
		return nil, vapiBadField(name, "a list of dynamic_ID structures")
	}
	out := make([]vapiDynID, 0, len(list))
	for _, e := range list {
		d, err := vapiReadDynID(name, e)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
