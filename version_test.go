package herald

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionFromBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tt := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info, true, "herald v1.2.3, commit 0123456789abcdef (modified), " + runtime.Version()},
		{&debug.BuildInfo{}, true, "herald (devel), commit unknown, " + runtime.Version()},
		{nil, false, "herald (devel), commit unknown, " + runtime.Version()},
	} {
		if got := version(tt.info, tt.ok); got != tt.want {
			t.Errorf("version = %q, want %q", got, tt.want)
		}
	}
}
