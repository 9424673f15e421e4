-- Attacks on the gateway and on RLS. Each is refused, or returns only the org's
-- rows; checked with RLS bypassed (the rewrite alone) and with RLS on and the
-- rewrite off (the original text as the agent role, app.org_id set).
-- expect: refused   the gateway must refuse it (sql_rejected or sql_invalid); naming org_id
--                   at all is refused (app/gateway/tenancy.py), RLS alone still returns A's rows
-- expect: allowed   the gateway runs it; the result equals the single-org database's
-- expect: catalog   under RLS alone it reads catalogs, which differ per database:
--                   checked for foreign rows, not compared with the single-org result
-- {orgb} is replaced by another org's id.

-- query: multi_statement_drop
-- expect: refused
SELECT 1; DROP TABLE contacts
-- query: multi_statement_two_selects
-- expect: refused
SELECT * FROM contacts; SELECT * FROM accounts
-- query: multi_statement_set_role
-- expect: refused
SELECT 1; SET ROLE postgres
-- query: multi_statement_reset_org
-- expect: refused
SELECT 1; RESET app.org_id; SELECT * FROM contacts
-- query: multi_statement_double_semicolon
-- expect: refused
SELECT count(*) FROM contacts;; SELECT 2
-- query: multi_statement_after_line_comment
-- expect: refused
SELECT 1 -- harmless
; DELETE FROM contacts
-- query: multi_statement_commit_then_read
-- expect: refused
SELECT 1; COMMIT; SELECT * FROM contacts
-- query: multi_statement_set_org
-- expect: refused
SELECT 1; SET app.org_id = '{orgb}'; SELECT * FROM contacts
-- query: comment_hides_second_statement
-- expect: allowed
SELECT first_name FROM contacts /* ; DELETE FROM contacts */
-- query: line_comment_hides_second_statement
-- expect: allowed
SELECT first_name FROM contacts -- ; SELECT * FROM accounts
-- query: nested_comment_balanced
-- expect: allowed
SELECT count(*) FROM contacts /* outer /* inner */ , accounts */
-- query: nested_comment_unbalanced
-- expect: refused
SELECT 1 /* /* */ ; DROP TABLE contacts; /* */
-- query: unclosed_comment
-- expect: refused
SELECT 1 FROM contacts /* unclosed
-- query: comments_as_whitespace
-- expect: allowed
SELECT/**/count(*)/**/FROM/**/contacts
-- query: comment_before_where
-- expect: allowed
SELECT email FROM contacts --
WHERE true
-- query: quoted_table_name
-- expect: allowed
SELECT email FROM "contacts"
-- query: quoted_mixed_case_is_another_table
-- expect: refused
SELECT * FROM "Contacts"
-- query: quoted_catalog_name
-- expect: refused
-- expect: catalog
SELECT * FROM "pg_class"
-- query: quoted_schema_and_table
-- expect: allowed
SELECT email FROM "public"."contacts"
-- query: dotted_name_in_one_identifier
-- expect: refused
SELECT * FROM "public.contacts"
-- query: upper_case_schema_and_table
-- expect: allowed
SELECT EMAIL FROM PUBLIC.CONTACTS
-- query: quoted_upper_schema_is_another_schema
-- expect: refused
SELECT * FROM "PUBLIC".contacts
-- query: identifier_with_embedded_quote
-- expect: refused
SELECT * FROM "contacts"""
-- query: string_hiding_a_statement
-- expect: allowed
SELECT 'a'' ; DROP TABLE contacts; --' AS s FROM contacts
-- query: escape_string_then_statement
-- expect: refused
SELECT E'\''; SELECT * FROM accounts --'
-- query: backslash_is_not_an_escape
-- expect: refused
SELECT '\'; SELECT * FROM accounts; --'
-- query: dollar_quote_hiding_statement
-- expect: allowed
SELECT $$ ; DELETE FROM contacts; $$ AS s, first_name FROM contacts
-- query: nested_dollar_tags
-- expect: allowed
SELECT $a$ $$ ; SELECT * FROM accounts; $$ $a$ AS s FROM accounts
-- query: dollar_quote_then_statement
-- expect: refused
SELECT $$x$$; SELECT * FROM accounts
-- query: unterminated_dollar_quote
-- expect: refused
SELECT $tag$ unterminated
-- query: dollar_quote_in_predicate
-- expect: allowed
SELECT count(*) FROM contacts WHERE first_name <> $q$Ada$q$
-- query: positional_parameter
-- expect: refused
SELECT * FROM contacts WHERE id = $1
-- query: unicode_escape_identifier_catalog
-- expect: refused
-- expect: catalog
SELECT * FROM U&"\0070\0067_class"
-- query: unicode_escape_identifier_table
-- expect: refused
SELECT * FROM U&"c\006Fntacts"
-- query: unicode_escape_column
-- expect: refused
SELECT U&"d\0061ta" FROM contacts
-- query: unicode_escape_string
-- expect: refused
SELECT U&'\0041'
-- query: unicode_escape_with_uescape
-- expect: refused
-- expect: catalog
SELECT * FROM U&"!0070!0067_class" UESCAPE '!'
-- query: cte_shadows_table_with_other_table
-- expect: allowed
WITH contacts AS (SELECT * FROM accounts) SELECT * FROM contacts
-- query: cte_wraps_table
-- expect: allowed
WITH x AS (SELECT * FROM contacts) SELECT * FROM x
-- query: cte_self_named_reads_real_table
-- expect: allowed
WITH contacts AS (SELECT * FROM contacts) SELECT * FROM contacts
-- query: recursive_cte_named_like_table
-- expect: allowed
WITH RECURSIVE contacts AS (SELECT * FROM public.contacts) SELECT * FROM contacts
-- query: cte_named_like_catalog
-- expect: allowed
WITH pg_class AS (SELECT 1 AS x) SELECT * FROM pg_class
-- query: cte_then_qualified_real_table
-- expect: allowed
WITH contacts AS (SELECT 1 AS id) SELECT * FROM public.contacts
-- query: cte_out_of_scope_is_the_table
-- expect: allowed
SELECT * FROM (WITH contacts AS (SELECT 1 AS one) SELECT * FROM contacts) a, contacts
-- query: cte_in_scalar_subquery_only
-- expect: allowed
SELECT (WITH accounts AS (SELECT 1) SELECT count(*) FROM accounts), (SELECT count(*) FROM accounts)
-- query: cte_quoted_name_does_not_shadow
-- expect: allowed
WITH "Contacts" AS (SELECT 1 AS x) SELECT * FROM contacts
-- query: cte_shadow_then_quoted_upper
-- expect: refused
WITH contacts AS (SELECT 1 AS x) SELECT * FROM "CONTACTS"
-- query: cte_forward_reference_without_recursive
-- expect: refused
WITH a AS (SELECT * FROM b), b AS (SELECT * FROM contacts) SELECT * FROM a
-- query: cte_forward_reference_with_recursive
-- expect: allowed
WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT id FROM contacts) SELECT count(*) FROM a
-- query: data_modifying_cte_delete
-- expect: refused
WITH d AS (DELETE FROM contacts RETURNING *) SELECT * FROM d
-- query: data_modifying_cte_update
-- expect: refused
WITH u AS (UPDATE contacts SET first_name = 'x' RETURNING *) SELECT count(*) FROM u
-- query: data_modifying_cte_insert
-- expect: refused
WITH i AS (INSERT INTO notes (org_id, body) VALUES ('{orgb}', 'x') RETURNING *) SELECT * FROM i
-- query: alias_swap
-- expect: allowed
SELECT * FROM contacts AS accounts JOIN accounts AS contacts ON true
-- query: schema_pg_catalog
-- expect: refused
-- expect: catalog
SELECT relname, reltuples FROM pg_catalog.pg_class
-- query: schema_information_schema
-- expect: refused
-- expect: catalog
SELECT * FROM information_schema.tables
-- query: schema_atlas_meta
-- expect: refused
SELECT * FROM atlas_meta.roles
-- query: schema_app_function
-- expect: refused
SELECT * FROM app.current_org()
-- query: public_organizations
-- expect: refused
SELECT * FROM public.organizations
-- query: users_table
-- expect: refused
SELECT * FROM users
-- query: members_table
-- expect: refused
SELECT * FROM members
-- query: sessions_table
-- expect: refused
SELECT * FROM sessions
-- query: audit_log_table
-- expect: refused
SELECT * FROM audit_log
-- query: other_tenant_tables
-- expect: refused
SELECT * FROM conversations JOIN messages ON true
-- query: cross_database_reference
-- expect: refused
SELECT * FROM postgres.public.contacts
-- query: pg_temp_schema
-- expect: refused
SELECT * FROM pg_temp.contacts
-- query: user_schema
-- expect: refused
SELECT * FROM "$user".contacts
-- query: catalog_pg_class
-- expect: refused
-- expect: catalog
SELECT relname, reltuples FROM pg_class WHERE relname = 'contacts'
-- query: catalog_pg_stats_values
-- expect: refused
-- expect: catalog
SELECT tablename, attname, most_common_vals::text FROM pg_stats WHERE tablename IN ('contacts', 'notes', 'leads')
-- query: catalog_pg_stats_histogram
-- expect: refused
-- expect: catalog
SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'opportunities'
-- query: catalog_pg_statistic
-- expect: refused
SELECT * FROM pg_statistic
-- query: catalog_pg_stat_user_tables
-- expect: refused
-- expect: catalog
SELECT relname, n_live_tup FROM pg_stat_user_tables
-- query: catalog_pg_stat_activity
-- expect: refused
-- expect: catalog
SELECT query FROM pg_stat_activity
-- query: catalog_pg_roles
-- expect: refused
-- expect: catalog
SELECT rolname FROM pg_roles
-- query: catalog_pg_authid
-- expect: refused
SELECT rolpassword FROM pg_authid
-- query: catalog_pg_settings
-- expect: refused
-- expect: catalog
SELECT name, setting FROM pg_settings
-- query: catalog_pg_policies
-- expect: refused
-- expect: catalog
SELECT * FROM pg_policies
-- query: catalog_pg_largeobject
-- expect: refused
SELECT * FROM pg_largeobject
-- query: catalog_in_scalar_subquery
-- expect: refused
-- expect: catalog
SELECT (SELECT count(*) FROM pg_class)
-- query: catalog_in_cte
-- expect: refused
-- expect: catalog
WITH x AS (SELECT * FROM pg_stats) SELECT count(*) FROM x
-- query: catalog_in_join
-- expect: refused
-- expect: catalog
SELECT c.email FROM contacts c JOIN pg_roles r ON true
-- query: catalog_in_lateral
-- expect: refused
-- expect: catalog
SELECT * FROM contacts c, LATERAL (SELECT count(*) FROM pg_proc) p
-- query: table_statement_catalog
-- expect: refused
-- expect: catalog
TABLE pg_namespace
-- query: function_set_config_org
-- expect: refused
SELECT set_config('app.org_id', '{orgb}', true), * FROM contacts
-- query: function_set_config_in_where
-- expect: refused
SELECT * FROM contacts WHERE set_config('app.org_id', '{orgb}', true) IS NOT NULL
-- query: function_set_config_role
-- expect: refused
SELECT set_config('role', 'postgres', false)
-- query: function_set_config_in_having
-- expect: refused
SELECT count(*) FROM contacts HAVING (SELECT set_config('app.org_id', '{orgb}', true)) IS NOT NULL
-- query: function_current_setting
-- expect: refused
SELECT current_setting('app.org_id')
-- query: function_pg_sleep
-- expect: refused
SELECT pg_sleep(30)
-- query: function_pg_sleep_for
-- expect: refused
SELECT pg_sleep_for('30 seconds')
-- query: function_pg_sleep_nested
-- expect: refused
SELECT format('%s', pg_sleep(30)) FROM contacts
-- query: function_quoted_name
-- expect: refused
SELECT "pg_sleep"(30)
-- query: function_schema_qualified
-- expect: refused
SELECT pg_catalog.pg_sleep(30)
-- query: function_pg_read_file
-- expect: refused
SELECT pg_read_file('/etc/passwd')
-- query: function_pg_read_binary_file
-- expect: refused
SELECT pg_read_binary_file('/etc/passwd')
-- query: function_pg_ls_dir
-- expect: refused
SELECT * FROM pg_ls_dir('.')
-- query: function_pg_stat_file
-- expect: refused
SELECT pg_stat_file('postgresql.conf')
-- query: function_lo_import
-- expect: refused
SELECT lo_import('/etc/passwd')
-- query: function_lo_get
-- expect: refused
SELECT lo_get(1)
-- query: function_lo_creat
-- expect: refused
-- expect: catalog
SELECT lo_creat(-1)
-- query: function_dblink
-- expect: refused
SELECT * FROM dblink('dbname=postgres', 'SELECT * FROM contacts') AS t(x text)
-- query: function_query_to_xml
-- expect: refused
SELECT query_to_xml('SELECT * FROM contacts', true, true, '')
-- query: function_table_to_xml
-- expect: refused
SELECT table_to_xml('contacts', true, true, '')
-- query: function_xmlelement
-- expect: refused
SELECT xmlelement(name x, 'y')
-- query: function_advisory_lock
-- expect: refused
SELECT pg_advisory_lock(1)
-- query: function_pg_cancel_backend
-- expect: refused
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
-- query: function_pg_terminate_backend
-- expect: refused
SELECT pg_terminate_backend(1)
-- query: function_pg_reload_conf
-- expect: refused
SELECT pg_reload_conf()
-- query: function_txid_current
-- expect: refused
-- expect: catalog
SELECT txid_current()
-- query: function_nextval
-- expect: refused
SELECT nextval('some_sequence')
-- query: function_version
-- expect: refused
-- expect: catalog
SELECT version()
-- query: function_current_user
-- expect: refused
-- expect: catalog
SELECT current_user, session_user
-- query: function_current_database
-- expect: refused
-- expect: catalog
SELECT current_database()
-- query: function_app_current_org
-- expect: refused
SELECT app.current_org()
-- query: function_rows_from_escape
-- expect: refused
SELECT * FROM ROWS FROM (pg_ls_dir('.'))
-- query: function_json_populate_record
-- expect: refused
SELECT * FROM json_populate_record(NULL::contacts, '{}')
-- query: function_repeat_huge
-- expect: refused
SELECT repeat('x', 1000000000)
-- query: function_lpad_huge
-- expect: refused
SELECT lpad('x', 1000000000)
-- query: function_attribute_notation
-- expect: allowed
SELECT c.first_name FROM contacts c WHERE c.row_to_json IS NOT NULL
-- query: cast_regclass
-- expect: refused
-- expect: catalog
SELECT 'contacts'::regclass::oid
-- query: cast_regproc
-- expect: refused
-- expect: catalog
SELECT 'pg_sleep'::regproc
-- query: cast_oid
-- expect: refused
-- expect: catalog
SELECT 1::oid
-- query: cast_xml
-- expect: refused
SELECT '<x/>'::xml
-- query: cast_tableoid_regclass
-- expect: refused
SELECT tableoid::regclass FROM contacts
-- query: set_org
-- expect: refused
SET app.org_id = '{orgb}'
-- query: set_role
-- expect: refused
SET ROLE postgres
-- query: reset_role
-- expect: refused
RESET ROLE
-- query: set_session_authorization
-- expect: refused
SET SESSION AUTHORIZATION postgres
-- query: reset_all
-- expect: refused
RESET ALL
-- query: set_row_security_off
-- expect: refused
SET row_security = off
-- query: set_statement_timeout_zero
-- expect: refused
SET statement_timeout = 0
-- query: update_pg_settings
-- expect: refused
UPDATE pg_settings SET setting = '{orgb}' WHERE name = 'app.org_id'
-- query: discard_all
-- expect: refused
DISCARD ALL
-- query: explain_analyze
-- expect: refused
-- expect: catalog
EXPLAIN ANALYZE SELECT * FROM contacts
-- query: copy_to_stdout
-- expect: refused
COPY contacts TO STDOUT
-- query: copy_query_to_file
-- expect: refused
COPY (SELECT * FROM contacts) TO '/tmp/stolen'
-- query: do_block
-- expect: refused
DO $$ BEGIN PERFORM set_config('app.org_id', '{orgb}', false); END $$
-- query: call_procedure
-- expect: refused
CALL some_procedure()
-- query: prepare_statement
-- expect: refused
PREPARE p AS SELECT * FROM contacts
-- query: lock_table
-- expect: refused
LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE
-- query: listen
-- expect: refused
LISTEN channel
-- query: notify
-- expect: refused
NOTIFY channel, 'x'
-- query: begin_transaction
-- expect: refused
BEGIN
-- query: vacuum
-- expect: refused
VACUUM contacts
-- query: truncate
-- expect: refused
TRUNCATE contacts
-- query: create_table_as
-- expect: refused
CREATE TABLE stolen AS SELECT * FROM contacts
-- query: alter_table_disable_rls
-- expect: refused
ALTER TABLE contacts DISABLE ROW LEVEL SECURITY
-- query: grant_to_public
-- expect: refused
GRANT ALL ON contacts TO PUBLIC
-- query: insert
-- expect: refused
INSERT INTO notes (org_id, body) VALUES ('{orgb}', 'x')
-- query: update
-- expect: refused
UPDATE contacts SET first_name = 'x'
-- query: delete
-- expect: refused
DELETE FROM contacts
-- query: merge
-- expect: refused
MERGE INTO contacts USING accounts ON true WHEN MATCHED THEN DELETE
-- query: declare_cursor
-- expect: refused
DECLARE c CURSOR FOR SELECT * FROM contacts
-- query: show_setting
-- expect: refused
SHOW app.org_id
-- query: lock_for_update
-- expect: refused
SELECT * FROM contacts FOR UPDATE
-- query: lock_for_share
-- expect: refused
SELECT * FROM contacts FOR SHARE
-- query: lock_for_no_key_update
-- expect: refused
SELECT 'x' FROM contacts FOR NO KEY UPDATE
-- query: lock_for_key_share_skip_locked
-- expect: refused
SELECT * FROM contacts FOR KEY SHARE SKIP LOCKED
-- query: lock_in_subquery
-- expect: refused
SELECT * FROM (SELECT * FROM contacts FOR UPDATE) x
-- query: select_into
-- expect: refused
SELECT * INTO stolen FROM contacts
-- query: select_into_temp
-- expect: refused
SELECT * INTO TEMP stolen FROM contacts
-- query: tablesample
-- expect: refused
SELECT email FROM contacts TABLESAMPLE BERNOULLI (100)
-- query: exhaustion_generate_series_count
-- expect: allowed
SELECT count(*) FROM generate_series(1, 1000000000000)
-- query: exhaustion_generate_series_rows
-- expect: allowed
SELECT * FROM generate_series(1, 100000000)
-- query: exhaustion_recursive_cte_unbounded_rows
-- expect: allowed
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r
-- query: exhaustion_recursive_cte_unbounded_count
-- expect: allowed
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r
-- query: exhaustion_cross_join_explosion
-- expect: allowed
SELECT count(*) FROM contacts a, contacts b, contacts c, contacts d, contacts e, contacts f
-- query: exhaustion_string_agg
-- expect: refused
SELECT length(string_agg(md5(g::text), '')) FROM generate_series(1, 100000000) g
-- query: predicate_other_org
-- expect: refused
SELECT * FROM contacts WHERE org_id = '{orgb}'
-- query: predicate_or_true
-- expect: allowed
SELECT email FROM contacts WHERE first_name = 'nobody' OR 1 = 1
-- query: predicate_not_my_org
-- expect: refused
SELECT email FROM contacts WHERE org_id <> '{orgb}' OR org_id = '{orgb}'
-- query: union_other_org_rows
-- expect: refused
SELECT email FROM contacts UNION ALL SELECT email FROM contacts WHERE org_id = '{orgb}'
-- query: right_join_everything
-- expect: allowed
SELECT c.email FROM accounts a RIGHT JOIN contacts c ON true
-- query: full_join_everything
-- expect: allowed
SELECT a.name, c.email FROM accounts a FULL JOIN contacts c ON false
-- query: known_bad_scalar_subquery_select
-- expect: allowed
SELECT o.id, (SELECT sum(amount) FROM opportunities) FROM opportunities o
-- query: known_bad_scalar_subquery_having
-- expect: allowed
SELECT stage FROM opportunities GROUP BY stage HAVING count(*) > (SELECT count(*) FROM opportunities) / 6
-- query: known_bad_scalar_subquery_order_by
-- expect: allowed
SELECT o.id FROM opportunities o ORDER BY abs(o.amount - (SELECT avg(amount) FROM opportunities)), o.id LIMIT 1
-- query: known_bad_scalar_subquery_join_on
-- expect: allowed
SELECT o.id FROM opportunities o JOIN accounts a ON a.id = o.account_id AND (SELECT count(*) FROM opportunities) < 30
-- query: aggregate_everything
-- expect: refused
SELECT (SELECT array_agg(email ORDER BY email) FROM contacts), (SELECT string_agg(body, '|' ORDER BY body) FROM notes)
-- query: whole_row_to_json
-- expect: allowed
SELECT row_to_json(c) FROM contacts c
-- query: table_statement
-- expect: allowed
TABLE knowledge_files
-- query: only_table
-- expect: allowed
SELECT title FROM ONLY knowledge_files
-- query: values_with_subquery
-- expect: allowed
VALUES ((SELECT count(*) FROM contacts))
-- query: lateral_from_values
-- expect: allowed
SELECT c.email FROM (VALUES (1)) v(x) JOIN LATERAL (SELECT * FROM contacts) c ON true
-- query: system_columns
-- expect: allowed
-- expect: catalog
SELECT ctid, xmin FROM contacts
-- query: long_identifier
-- expect: refused
SELECT * FROM contacts_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
-- query: schema_qualified_column
-- expect: refused
SELECT public.contacts.email FROM public.contacts
-- query: in_subquery_everything
-- expect: allowed
SELECT email FROM contacts WHERE id = ANY (SELECT id FROM contacts)
-- query: group_by_org
-- expect: refused
SELECT org_id, count(*) FROM notes GROUP BY org_id
-- query: exists_other_org
-- expect: refused
SELECT count(*) FROM accounts WHERE EXISTS (SELECT 1 FROM accounts x WHERE x.org_id = '{orgb}')
-- query: window_over_everything
-- expect: allowed
SELECT email, count(*) OVER () FROM contacts
-- query: recursive_walk_tables
-- expect: allowed
WITH RECURSIVE r(id, n) AS (SELECT id, 1 FROM accounts UNION ALL SELECT c.id, r.n + 1 FROM r JOIN contacts c ON true WHERE r.n < 2) SELECT count(*) FROM r
-- query: empty_text
-- expect: refused
   
-- query: only_a_comment
-- expect: refused
-- nothing here
