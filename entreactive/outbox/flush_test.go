package outbox

import (
	"database/sql"
	"slices"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// The DELETE statements of a flush delete exactly the published ids: runs
// of consecutive ids as ranges, the rest one by one, never an id between
// two runs that was not published.
func TestDeleteStatementsDeleteExactlyThePublishedIDs(t *testing.T) {
	db, err := sql.Open("sqlite3", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, c := range []struct {
		name       string
		published  []int64
		statements int
	}{
		{name: "runs and single ids", published: []int64{1, 2, 3, 5, 7, 8, 10, 1500}, statements: 1},
		{name: "one run", published: seq(1, 2000), statements: 1},
		{name: "every other id, over several statements", published: everyOther(1, 2000), statements: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := db.Exec("DROP TABLE IF EXISTS outbox; CREATE TABLE outbox (id INTEGER PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			for id := int64(1); id <= 2001; id++ {
				if _, err := db.Exec("INSERT INTO outbox (id) VALUES (?)", id); err != nil {
					t.Fatal(err)
				}
			}
			stmts := deleteStatements("outbox", c.published)
			if len(stmts) != c.statements {
				t.Errorf("%d statements, want %d", len(stmts), c.statements)
			}
			for _, q := range stmts {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			var left []int64
			rows, err := db.Query("SELECT id FROM outbox ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				left = append(left, id)
			}
			var want []int64
			for id := int64(1); id <= 2001; id++ {
				if !slices.Contains(c.published, id) {
					want = append(want, id)
				}
			}
			if !slices.Equal(left, want) {
				t.Fatalf("left %d ids (%v...), want %d (%v...)", len(left), left[:min(len(left), 8)], len(want), want[:min(len(want), 8)])
			}
		})
	}
}

func seq(from, to int64) []int64 {
	var ids []int64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func everyOther(from, to int64) []int64 {
	var ids []int64
	for id := from; id <= to; id += 2 {
		ids = append(ids, id)
	}
	return ids
}
