// Package ent is the generated ent client of the schemas in ./schema, with
// the entreactive extension.
package ent

//go:generate go run -mod=mod entc.go
