package schema

import (
	"context"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/privacy"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// Task is reactive inside an app that uses the common ent features: the
// time mixin, the soft-delete mixin of ent's documentation (after the
// reactive mixin), a privacy policy, a tenant filter, a schema hook of its
// own, upserts on a unique key, optional foreign keys and an M2M edge.
type Task struct {
	ent.Schema
}

// Mixin of the Task: the reactive mixin before the soft-delete mixin.
func (Task) Mixin() []ent.Mixin {
	return []ent.Mixin{mixin.Time{}, taskReactive(), SoftDeleteMixin{}}
}

// Fields of the Task.
func (Task) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().NotEmpty(),
		field.String("slug").Optional().Nillable().Unique(),
		field.String("text").Default(""),
		field.Bool("done").Default(false),
		field.String("secret").Optional().Sensitive(),
		field.Int("revision").Default(0),
		field.String("tenant").Default(""),
		field.Int("assignee_id").Optional().Nillable(),
		field.Int("team_id").Optional().Nillable(),
	}
}

// Edges of the Task.
func (Task) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("assignee", User.Type).Unique().Field("assignee_id"),
		edge.From("team", Team.Type).Ref("tasks").Unique().Field("team_id"),
		edge.To("labels", Label.Type),
	}
}

// Policy of the Task: anyone may write; only a viewer may read.
func (Task) Policy() ent.Policy {
	return viewerPolicy()
}

// Interceptors of the Task: the tenant filter.
func (Task) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{tenantFilter()}
}

// Hooks of the Task: a revision counter, bumped by every update inside the
// mutation, after the mixins' hooks.
func (Task) Hooks() []ent.Hook {
	return []ent.Hook{revisionCounter}
}

// Memo is reactive with the soft-delete mixin BEFORE the reactive mixin,
// the other order of the two.
type Memo struct {
	ent.Schema
}

// Mixin of the Memo: the soft-delete mixin before the reactive mixin.
func (Memo) Mixin() []ent.Mixin {
	return []ent.Mixin{SoftDeleteMixin{}, memoReactive()}
}

// Fields of the Memo.
func (Memo) Fields() []ent.Field {
	return []ent.Field{
		field.String("text"),
		field.Bool("pinned").Default(false),
		field.String("secret").Optional().Sensitive(),
	}
}

// Policy of the Memo: anyone may write; only a viewer may read.
func (Memo) Policy() ent.Policy {
	return viewerPolicy()
}

// User is an assignee of tasks; it is not reactive.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{field.String("name")}
}

// Edges of the User: the tasks assigned to the user, the other side of the
// tasks' assignee edge.
func (User) Edges() []ent.Edge {
	return []ent.Edge{edge.From("tasks", Task.Type).Ref("assignee")}
}

// Team holds tasks; it is not reactive, but its edge to tasks sets their
// foreign key.
type Team struct {
	ent.Schema
}

// Fields of the Team.
func (Team) Fields() []ent.Field {
	return []ent.Field{field.String("name")}
}

// Edges of the Team.
func (Team) Edges() []ent.Edge {
	return []ent.Edge{edge.To("tasks", Task.Type)}
}

// Label is on the other side of the tasks' M2M edge; it is not reactive.
type Label struct {
	ent.Schema
}

// Fields of the Label.
func (Label) Fields() []ent.Field {
	return []ent.Field{field.String("name")}
}

// Edges of the Label.
func (Label) Edges() []ent.Edge {
	return []ent.Edge{edge.From("tasks", Task.Type).Ref("labels")}
}

// viewerKey is the context key of the viewer.
type viewerKey struct{}

// NewViewerContext returns ctx with a viewer: the privacy policies of Task
// and Memo let it read.
func NewViewerContext(ctx context.Context, userID int) context.Context {
	return context.WithValue(ctx, viewerKey{}, userID)
}

// viewerPolicy allows every mutation and denies reads without a viewer.
func viewerPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysAllowRule()},
		Query: privacy.QueryPolicy{
			privacy.ContextQueryMutationRule(func(ctx context.Context) error {
				if _, ok := ctx.Value(viewerKey{}).(int); ok {
					return privacy.Allow
				}
				return privacy.Denyf("schema: no viewer")
			}),
		},
	}
}

// tenantKey is the context key of the tenant.
type tenantKey struct{}

// NewTenantContext returns ctx with a tenant: queries then see only that
// tenant's tasks.
func NewTenantContext(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// tenantFilter is a default filter, tenant style: queries of a context
// with a tenant see only that tenant's rows.
func tenantFilter() ent.Interceptor {
	return ent.TraverseFunc(func(ctx context.Context, q ent.Query) error {
		tenant, ok := ctx.Value(tenantKey{}).(string)
		if !ok {
			return nil
		}
		w, ok := q.(interface{ WhereP(...func(*sql.Selector)) })
		if !ok {
			return fmt.Errorf("schema: tenant filter: unexpected query %T", q)
		}
		w.WhereP(sql.FieldEQ("tenant", tenant))
		return nil
	})
}

// revisionCounter adds 1 to the revision of every updated task.
func revisionCounter(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if m.Op().Is(ent.OpUpdate | ent.OpUpdateOne) {
			r, ok := m.(interface{ AddRevision(int) })
			if !ok {
				return nil, fmt.Errorf("schema: revision counter: unexpected mutation %T", m)
			}
			r.AddRevision(1)
		}
		return next.Mutate(ctx, m)
	})
}
