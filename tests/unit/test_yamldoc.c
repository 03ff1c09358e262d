/* Unit tests of pkg/yamldoc: scalar typing as Helm's YAML loader does it, positions, duplicate keys,
 * anchors and merge keys, limits, Helm's merge and --set semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yamldoc/yamldoc.h"

struct fixture {
    struct yamldoc_set *set;
    struct yamldoc_error err;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->set = yamldoc_set_new();
    *state = f;
    return f->set == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    yamldoc_set_free(f->set);
    free(f);
    return 0;
}

static struct yamldoc_node *load(struct fixture *f, const char *text)
{
    struct yamldoc_node *root = NULL;
    int rc = yamldoc_load_buffer(f->set, "t.yaml", text, strlen(text), &root, &f->err);
    if (rc != 0)
        fail_msg("load failed: %s", f->err.message);
    return root;
}

static int load_fails(struct fixture *f, const char *text)
{
    struct yamldoc_node *root = NULL;
    return yamldoc_load_buffer(f->set, "t.yaml", text, strlen(text), &root, &f->err);
}

static void test_scalar_typing_follows_yaml_1_1(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root =
        load(f, "k1: yes\nk2: off\nk3: 0x1F\nk4: 0777\nk5: 1_000\nk6: 1.5e3\nk7: ~\nk8: '3'\n"
                "k9: 08\nk10: .inf\nk11: -12\nk12: \"true\"\nk13: 12abc\nk14: !!str 5\non: x\n3: y\n");
    struct yamldoc_node *n;
    n = yamldoc_map_get(root, "k1");
    assert_int_equal(n->kind, YAMLDOC_BOOL);
    assert_true(n->as.boolean);
    n = yamldoc_map_get(root, "k2");
    assert_int_equal(n->kind, YAMLDOC_BOOL);
    assert_false(n->as.boolean);
    assert_int_equal(yamldoc_map_get(root, "k3")->as.integer, 31);
    assert_int_equal(yamldoc_map_get(root, "k4")->as.integer, 511);
    assert_int_equal(yamldoc_map_get(root, "k5")->as.integer, 1000);
    n = yamldoc_map_get(root, "k6");
    assert_int_equal(n->kind, YAMLDOC_FLOAT);
    assert_true(n->as.number == 1500.0);
    assert_int_equal(yamldoc_map_get(root, "k7")->kind, YAMLDOC_NULL);
    assert_int_equal(yamldoc_map_get(root, "k8")->kind, YAMLDOC_STRING);
    assert_int_equal(yamldoc_map_get(root, "k9")->kind,
                     YAMLDOC_FLOAT); /* not octal: a float, as in go-yaml */
    assert_int_equal(yamldoc_map_get(root, "k10")->kind, YAMLDOC_FLOAT);
    assert_int_equal(yamldoc_map_get(root, "k11")->as.integer, -12);
    assert_int_equal(yamldoc_map_get(root, "k12")->kind, YAMLDOC_STRING);
    assert_int_equal(yamldoc_map_get(root, "k13")->kind, YAMLDOC_STRING);
    assert_int_equal(yamldoc_map_get(root, "k14")->kind, YAMLDOC_STRING);
    /* Keys are typed too, then turned back into strings: `on:` is the key "true" for Helm. */
    assert_non_null(yamldoc_map_get(root, "true"));
    assert_null(yamldoc_map_get(root, "on"));
    assert_non_null(yamldoc_map_get(root, "3"));
}

static void test_positions_are_the_keys(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root = load(f, "# comment\napi:\n  replicas: 2\n  list:\n    - a\n    - b\n");
    struct yamldoc_node *replicas = yamldoc_get_path(root, "api.replicas");
    assert_non_null(replicas);
    assert_string_equal(replicas->pos.source, "t.yaml");
    assert_int_equal(replicas->pos.line, 3);
    assert_int_equal(replicas->pos.column, 3);
    struct yamldoc_node *list = yamldoc_get_path(root, "api.list");
    assert_int_equal(list->items[1]->pos.line, 6);
    assert_int_equal(list->items[1]->pos.column, 7);
    assert_int_equal(root->pos.line, 1);
}

static void test_duplicate_keys_keep_the_last_and_are_recorded(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root = load(f, "a:\n  b: 1\n  c: 2\n  b: 3\n");
    assert_int_equal(yamldoc_get_path(root, "a.b")->as.integer, 3);
    assert_int_equal(yamldoc_duplicate_count(f->set), 1);
    const struct yamldoc_duplicate *dup = yamldoc_duplicate_at(f->set, 0);
    assert_string_equal(dup->path, "a.b");
    assert_int_equal(dup->pos.line, 4);
    assert_int_equal(dup->first.line, 2);
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root = load(f, "base: &b {x: 1, w: 2}\n"
                                        "copy: *b\n"
                                        "merged:\n  <<: *b\n  w: 5\n"
                                        "multi:\n  <<: [{p: 1}, {p: 2, q: 3}]\n");
    struct yamldoc_node *copy = yamldoc_map_get(root, "copy");
    assert_int_equal(copy->pos.line, 2); /* the alias's key, not the anchor's */
    assert_int_equal(yamldoc_map_get(copy, "x")->pos.line, 1);
    assert_int_equal(yamldoc_get_path(root, "merged.x")->as.integer, 1);
    assert_int_equal(yamldoc_get_path(root, "merged.w")->as.integer, 5); /* explicit keys win */
    assert_null(yamldoc_get_path(root, "merged.<<"));
    assert_int_equal(yamldoc_get_path(root, "multi.p")->as.integer, 1); /* earlier source wins */
    assert_int_equal(yamldoc_get_path(root, "multi.q")->as.integer, 3);
    assert_int_equal(yamldoc_duplicate_count(f->set), 0);
}

static void test_errors_and_limits(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_fails(f, "a: [1, 2\n"), -1);
    assert_string_equal(f->err.rule, "yaml-syntax");
    assert_true(f->err.pos.line >= 1);
    assert_int_equal(load_fails(f, "a: *nope\n"), -1);
    assert_string_equal(f->err.rule, "yaml-syntax");
    assert_int_equal(load_fails(f, "- 1\n- 2\n"), -1);
    assert_string_equal(f->err.rule, "values-structure");
    assert_int_equal(load_fails(f, "? [a]\n: 1\n"), -1);
    assert_string_equal(f->err.rule, "values-structure");

    char deep[2 * (YAMLDOC_MAX_DEPTH + 10) + 8];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "a: ");
    for (unsigned i = 0; i < YAMLDOC_MAX_DEPTH + 5; i++)
        deep[n++] = '[';
    for (unsigned i = 0; i < YAMLDOC_MAX_DEPTH + 5; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    assert_int_equal(load_fails(f, deep), -1);
    assert_string_equal(f->err.rule, "yaml-limit");

    char laughs[2048];
    n = (size_t)snprintf(laughs, sizeof(laughs), "a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (int i = 1; i < 9; i++)
        n += (size_t)snprintf(laughs + n, sizeof(laughs) - n,
                              "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", 'a' + i, 'a' + i,
                              'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1,
                              'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1);
    assert_int_equal(load_fails(f, laughs), -1);
    assert_string_equal(f->err.rule, "yaml-limit");
}

static void test_empty_and_null_documents_are_empty_maps(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root = load(f, "");
    assert_int_equal(root->kind, YAMLDOC_MAP);
    assert_int_equal(root->count, 0);
    root = load(f, "# only a comment\n~\n");
    assert_int_equal(root->kind, YAMLDOC_MAP);
    root = load(f, "a: 1\n---\nb: 2\n");
    assert_non_null(yamldoc_map_get(root, "a"));
    assert_null(yamldoc_map_get(root, "b"));
    assert_int_equal(yamldoc_note_count(f->set), 1);
}

static void test_merge_modes(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *base = load(f, "a: {x: 1, w: 2}\nlist: [1, 2]\nkeep: 1\ngone: {z: 1}\n");
    struct yamldoc_node *over = load(f, "a: {w: 3}\nlist: [9]\ngone: null\nnew: null\n");
    struct yamldoc_node *merged = yamldoc_merge(f->set, base, over, YAMLDOC_MERGE_COALESCE);
    assert_int_equal(yamldoc_get_path(merged, "a.x")->as.integer, 1);
    assert_int_equal(yamldoc_get_path(merged, "a.w")->as.integer, 3);
    assert_int_equal(yamldoc_map_get(merged, "list")->count, 1);
    assert_null(yamldoc_map_get(merged, "gone"));                         /* null deletes a default */
    assert_int_equal(yamldoc_map_get(merged, "new")->kind, YAMLDOC_NULL); /* but stays without one */
    assert_int_equal(yamldoc_get_path(base, "a.w")->as.integer, 2);       /* inputs untouched */
    merged = yamldoc_merge(f->set, base, over, YAMLDOC_MERGE_OVERRIDE);
    assert_int_equal(yamldoc_map_get(merged, "gone")->kind, YAMLDOC_NULL);
}

static struct yamldoc_node *apply(struct fixture *f, struct yamldoc_node *root, const char *arg,
                                  bool force_string)
{
    if (yamldoc_apply_set(f->set, &root, arg, force_string, 1, &f->err) != 0)
        fail_msg("--set %s failed: %s", arg, f->err.message);
    return root;
}

static void test_set_syntax(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *root = load(f, "a: {b: 1, keep: 2}\n");
    root = apply(f, root, "a.b=true,c=null,d=0,e=007,f=-5,g=x\\,y,h\\.i=1,empty=", false);
    assert_int_equal(yamldoc_get_path(root, "a.b")->kind, YAMLDOC_BOOL);
    assert_int_equal(yamldoc_get_path(root, "a.keep")->as.integer, 2);
    assert_int_equal(yamldoc_map_get(root, "c")->kind, YAMLDOC_NULL);
    assert_int_equal(yamldoc_map_get(root, "d")->kind, YAMLDOC_INT);
    assert_int_equal(yamldoc_map_get(root, "e")->kind, YAMLDOC_STRING); /* leading zero: a string */
    assert_int_equal(yamldoc_map_get(root, "f")->as.integer, -5);
    assert_string_equal(yamldoc_map_get(root, "g")->text, "x,y");
    assert_non_null(yamldoc_map_get(root, "h.i"));
    assert_string_equal(yamldoc_map_get(root, "empty")->text, "");

    root = apply(f, root, "list={1,two,true},idx[2].name=n,nested[0][1]=z", false);
    struct yamldoc_node *list = yamldoc_map_get(root, "list");
    assert_int_equal(list->count, 3);
    assert_int_equal(list->items[0]->kind, YAMLDOC_INT);
    assert_int_equal(list->items[2]->kind, YAMLDOC_BOOL);
    struct yamldoc_node *idx = yamldoc_map_get(root, "idx");
    assert_int_equal(idx->count, 3);
    assert_int_equal(idx->items[0]->kind, YAMLDOC_NULL);
    assert_string_equal(yamldoc_map_get(idx->items[2], "name")->text, "n");
    assert_int_equal(yamldoc_map_get(root, "nested")->items[0]->count, 2);

    root = apply(f, root, "s=42", true);
    assert_int_equal(yamldoc_map_get(root, "s")->kind, YAMLDOC_STRING);
    assert_string_equal(yamldoc_map_get(root, "s")->pos.source, "--set[1]");

    static const char *const BAD[] = {"zz",          "zz,b=1", "zz[x]=1", "zz[-1]=1",
                                      "zz[65537]=1", "zz={1",  "zz.=1",   "zz[0]"};
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        struct yamldoc_node *r = root;
        assert_int_equal(yamldoc_apply_set(f->set, &r, BAD[i], false, 1, &f->err), -1);
        assert_string_equal(f->err.rule, "set-syntax");
    }
}

static void test_equality_ignores_positions_and_number_forms(void **state)
{
    struct fixture *f = *state;
    struct yamldoc_node *a = load(f, "x: {p: 1, q: [a, 2.0]}\n");
    struct yamldoc_node *b = load(f, "\n\nx:\n  q: [a, 2]\n  p: 1.0\n");
    assert_true(yamldoc_equal(a, b));
    struct yamldoc_node *c = load(f, "x: {p: 1, q: [a, 3]}\n");
    assert_false(yamldoc_equal(a, c));
}

static void test_large_mappings_use_the_index(void **state)
{
    struct fixture *f = *state;
    size_t size = 64 * 1024;
    char *text = malloc(size);
    assert_non_null(text);
    size_t n = 0;
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(text + n, size - n, "k%d: %d\n", i, i);
    struct yamldoc_node *root = load(f, text);
    free(text);
    assert_int_equal(root->count, 3000);
    assert_int_equal(yamldoc_map_get(root, "k2999")->as.integer, 2999);
    assert_null(yamldoc_map_get(root, "k3000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scalar_typing_follows_yaml_1_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_are_the_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys_keep_the_last_and_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchors_aliases_and_merge_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_null_documents_are_empty_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equality_ignores_positions_and_number_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_mappings_use_the_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
