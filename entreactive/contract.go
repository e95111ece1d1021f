package entreactive

// The markers of the versions of the generated-code contract whose code
// imported this package for its plumbing (versions 1 to 4). Version 5 moved
// that plumbing to package glue, which declares the markers of version 5
// and later and documents the contract (glue.GeneratedCodeVersion, and its
// "For contributors" note). Version 4's marker is a type, in compat_v4.go,
// with the shims its code calls; versions 1 to 3 are variables, so that
// their code fails to compile with a message that says what to run.

// Markers of versions of the contract this module no longer runs: code
// generated for one of them names it as a type (version 3), or calls
// AfterCommit (versions 1 and 2, which had no marker), and fails to
// compile with the message of the variable's type. Code of version 3 has a
// reactive_placeholder.go, so go generate upgrades it; code of versions 1
// and 2 has none, and entc cannot load a schema that imports the generated
// package (a privacy policy) while that package does not compile: it is
// regenerated with d67a8ae, the last commit that runs it, first.
var (
	// GeneratedCodeV3 is named by code generated for version 3, which this
	// module no longer runs.
	GeneratedCodeV3 struct {
		_ int `entreactive:"this code was generated for version 3 of entreactive's generated-code contract, and the github.com/entreactive/reactive it builds with runs versions 4 to 5: regenerate it with go generate ./..."`
	}
	// AfterCommit is what code generated for versions 1 and 2 calls first.
	AfterCommit struct {
		_ int `entreactive:"this code was generated for version 1 or 2 of entreactive's generated-code contract, and the github.com/entreactive/reactive it builds with runs versions 4 to 5: regenerate it with a version that runs it first (go get github.com/entreactive/reactive@d67a8ae, go generate ./...), then go get github.com/entreactive/reactive@latest and go generate ./... again"`
	}
)
