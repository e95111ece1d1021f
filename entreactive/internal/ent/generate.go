// Package ent is the generated ent client of the test schemas in
// ./schema, which exercise what the reference schemas do not.
package ent

//go:generate go run -mod=mod entc.go
