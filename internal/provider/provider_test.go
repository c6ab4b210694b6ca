package provider_test

import (
	"testing"

	"github.com/crstel/crstel/internal/provider"
)

type pointerProvider struct{ _ int }

type mapProvider struct{ m map[string]int }

type wrapper struct{ inner any }

func TestSame(t *testing.T) {
	p := &pointerProvider{}
	m := mapProvider{m: map[string]int{}}
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{"same pointer", p, p, true},
		{"other pointer", p, &pointerProvider{}, false},
		{"nil and nil", nil, nil, true},
		{"nil and pointer", nil, p, false},
		{"struct holding a map, against itself", m, m, false},
		{"struct holding a map, against a pointer", m, p, false},
		{"struct whose interface field holds a map", wrapper{m}, wrapper{m}, false},
		{"comparable struct", wrapper{1}, wrapper{1}, true},
		{"slice", []int{1}, []int{1}, false},
		{"func", func() {}, func() {}, false},
	}
	for _, tt := range tests {
		if got := provider.Same(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Same = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkSame compares a provider with itself, as crstel's caches do on
// every use: the pointer (an SDK provider) and a struct (noop's).
func BenchmarkSame(b *testing.B) {
	for _, tt := range []struct {
		name string
		p    any
	}{
		{"pointer", &pointerProvider{}},
		{"struct", wrapper{1}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if !provider.Same(tt.p, tt.p) {
					b.Fatal("not the same")
				}
			}
		})
	}
}
