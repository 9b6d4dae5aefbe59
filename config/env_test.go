package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	tests := []struct{ key, want string }{
		{"websocket.listen", "HERALD_WEBSOCKET_LISTEN"},
		{"api.listen", "HERALD_API_LISTEN"},
		{"websocket.activity_timeout", "HERALD_WEBSOCKET_ACTIVITY_TIMEOUT"},
		{"shutdown_timeout", "HERALD_SHUTDOWN_TIMEOUT"},
		{"webhooks.retry_for", "HERALD_WEBHOOKS_RETRY_FOR"},
		{"websocket.allowed_origins", "HERALD_WEBSOCKET_ALLOWED_ORIGINS"},
	}
	for _, tt := range tests {
		if got := EnvName(tt.key); got != tt.want {
			t.Errorf("EnvName(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// scalarPaths returns the key path of every field of v's type that is not
// a struct, recursing into structs and skipping lists of structs (apps)
// and fields tagged "-".
func scalarPaths(prefix string, typ reflect.Type) []string {
	var paths []string
	for f := range typ.Fields() {
		tag := f.Tag.Get("koanf")
		if tag == "-" {
			continue
		}
		path := prefix + tag
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath():
			paths = append(paths, scalarPaths(path+".", f.Type)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
		default:
			paths = append(paths, path)
		}
	}
	return paths
}

// Every key must have a flag and a variable, and the variable names must
// not collide with each other or with the single-app variables: the table
// would otherwise send a variable to the wrong key.
func TestEveryKeyHasFlagAndEnv(t *testing.T) {
	keys := scalarKeys(newFlagSet())
	paths := scalarPaths("", reflect.TypeFor[Config]())
	for _, p := range paths {
		if _, ok := keys[p]; !ok {
			t.Errorf("key %s has no flag", p)
		}
	}
	if len(keys) != len(paths) {
		t.Errorf("%d key flags for %d keys", len(keys), len(paths))
	}

	names := make(map[string]string)
	for key := range keys {
		name := EnvName(key)
		if other, dup := names[name]; dup {
			t.Errorf("%s and %s both map to %s", key, other, name)
		}
		if _, dup := envAppFields[name]; dup {
			t.Errorf("%s maps to the app variable %s", key, name)
		}
		names[name] = key
	}
}

func TestEnvLayer(t *testing.T) {
	keys := scalarKeys(newFlagSet())
	got, err := envLayer([]string{
		"HERALD_API_READ_HEADER_TIMEOUT=3s",
		"HERALD_WEBSOCKET_ALLOWED_ORIGINS= https://a.example ,,https://b.example",
		"HERALD_LOG_LEVEL=debug=really", // only the first "=" separates the value
		"OTHER=1",
	}, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"api.read_header_timeout":   "3s",
		"websocket.allowed_origins": []string{"https://a.example", "https://b.example"},
		"log.level":                 "debug=really",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("envLayer = %v, want %v", got, want)
	}

	_, err = envLayer([]string{"HERALD_API_READ_HEADER=3s", "HERALD_APP_ID=1", "HERALD_CONFIG=x.yaml"}, keys)
	if err == nil {
		t.Fatal("envLayer accepted unknown variables")
	}
	for _, name := range []string{"HERALD_API_READ_HEADER", "HERALD_APP_ID", "HERALD_CONFIG"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 3 {
		t.Errorf("want one error line per variable, got %q", lines)
	}
}
