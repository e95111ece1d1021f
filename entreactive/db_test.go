package entreactive_test

import (
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/internal/testdb"
)

// eachDatabase runs test once per database of the suite (see testdb.Each).
func eachDatabase(t *testing.T, test func(t *testing.T, drv *entsql.Driver)) {
	t.Helper()
	testdb.Each(t, test)
}
