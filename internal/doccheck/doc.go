// Package doccheck holds a test of the repository's documentation: every
// relative link of README.md, CONTRIBUTING.md, docs/*.md and
// example/README.md points at a file that exists, and every anchor at a
// heading of that file (GitHub's slugs). It has no code of its own.
package doccheck
