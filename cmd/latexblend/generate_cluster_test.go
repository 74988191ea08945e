package main

import (
	"strings"
	"testing"
)

// TestClusterRequestBlendFlags: the blend switches reach the sampler request
// (--no-places as blend.disable_places), and without concepts they are refused.
func TestClusterRequestBlendFlags(t *testing.T) {
	request := func(args ...string) error {
		cmd := newGenerateCmd()
		if err := cmd.ParseFlags(append([]string{"--cluster", "--prompt", "a dog wearing a sunglasses"}, args...)); err != nil {
			t.Fatal(err)
		}
		req, err := (&clusterExtension{}).request(cmd)
		if err == nil {
			b := req.GetBlend()
			if got := []bool{b.GetDisablePlaces(), b.GetDisableBinding()}; got[0] != strings.Contains(strings.Join(args, " "), "--no-places") ||
				got[1] != strings.Contains(strings.Join(args, " "), "--no-binding") {
				t.Errorf("%v: disable_places %v, disable_binding %v", args, got[0], got[1])
			}
		}
		return err
	}
	for _, args := range [][]string{
		{"--concept", "dog=rex", "--no-places"},
		{"--concept", "dog=rex", "--no-binding"},
		{"--concept", "dog=rex", "--concept", "sunglasses=shades"},
	} {
		if err := request(args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := request("--no-places"); err == nil || !strings.Contains(err.Error(), "--no-places needs concepts") {
		t.Errorf("--no-places without concepts: %v", err)
	}
}
