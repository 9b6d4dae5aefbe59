package config

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// masked replaces a secret's value wherever YAML prints one.
const masked = "********"

// YAML returns c as a YAML document that Load reads back, keys in the
// order of the fields, with every secret masked: app secrets, webhook
// header values, the password of a URL, and any key named like a
// credential (see isSecretKey). Paths, such as the TLS key file's, are
// printed; the contents of the files are never read here.
func (c Config) YAML() []byte {
	var b bytes.Buffer
	writeFields(&b, reflect.ValueOf(c), "")
	return b.Bytes()
}

// isSecretKey reports whether a key holds a credential whose value must
// never be printed: secret, token and password, alone or as the end of a
// key name (dashboard_token, admin_password).
func isSecretKey(key string) bool {
	for _, s := range []string{"secret", "token", "password"} {
		if key == s || strings.HasSuffix(key, "_"+s) {
			return true
		}
	}
	return false
}

// writeFields writes the koanf-tagged fields of the struct v, each line
// prefixed with pad.
func writeFields(b *bytes.Buffer, v reflect.Value, pad string) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("koanf")
		if key == "" || key == "-" {
			continue
		}
		writeKey(b, key, v.Field(i), pad)
	}
}

func writeKey(b *bytes.Buffer, key string, v reflect.Value, pad string) {
	switch {
	case v.Type() == durationType:
		fmt.Fprintf(b, "%s%s: %s\n", pad, key, quote(time.Duration(v.Int()).String()))
	case v.Kind() == reflect.Struct:
		fmt.Fprintf(b, "%s%s:\n", pad, key)
		writeFields(b, v, pad+"  ")
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if v.Len() == 0 {
			fmt.Fprintf(b, "%s%s: []\n", pad, key)
			return
		}
		fmt.Fprintf(b, "%s%s:\n", pad, key)
		for i := range v.Len() {
			var item bytes.Buffer
			writeFields(&item, v.Index(i), "")
			lines := strings.Split(strings.TrimSuffix(item.String(), "\n"), "\n")
			for j, line := range lines {
				lead := pad + "    "
				if j == 0 {
					lead = pad + "  - "
				}
				b.WriteString(lead + line + "\n")
			}
		}
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = scalar(key, v.Index(i))
		}
		fmt.Fprintf(b, "%s%s: [%s]\n", pad, key, strings.Join(items, ", "))
	case v.Kind() == reflect.Map:
		if v.Len() == 0 {
			fmt.Fprintf(b, "%s%s: {}\n", pad, key)
			return
		}
		fmt.Fprintf(b, "%s%s:\n", pad, key)
		names := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			names = append(names, k.String())
		}
		slices.Sort(names)
		for _, name := range names {
			// Header values may hold credentials (Authorization): every
			// value of a map is masked.
			fmt.Fprintf(b, "%s  %s: %s\n", pad, quote(name), quote(masked))
		}
	default:
		fmt.Fprintf(b, "%s%s: %s\n", pad, key, scalar(key, v))
	}
}

// scalar encodes one value; strings are always double-quoted so that no
// value can be read back as another type.
func scalar(key string, v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		switch {
		case s != "" && isSecretKey(key):
			s = masked
		case key == "url":
			s = redact(s)
		}
		return quote(s)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	}
	return quote(fmt.Sprint(v.Interface()))
}

// redact masks the password of a URL with credentials in it.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	return u.Redacted()
}

// quote is a YAML double-quoted string: Go's escapes (\", \\, \n, \t,
// \xNN, \uNNNN) are YAML's too.
func quote(s string) string { return strconv.Quote(s) }
