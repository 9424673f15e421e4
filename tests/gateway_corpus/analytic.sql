-- Honest analytic queries over the CRM schema. Each must return, rewritten and
-- run with RLS bypassed on the multi-org database, exactly the rows the query
-- itself returns on a database holding only that org's rows. Deterministic by
-- construction: every ordered window, LIMIT and aggregate order has a unique tiebreak.

-- query: plain_select_star_accounts
SELECT * FROM accounts
-- query: plain_columns_contacts
SELECT first_name, last_name, email FROM contacts
-- query: count_star_each_table
SELECT (SELECT count(*) FROM accounts) AS a, (SELECT count(*) FROM contacts) AS c, (SELECT count(*) FROM leads) AS l, (SELECT count(*) FROM opportunities) AS o, (SELECT count(*) FROM activities) AS act, (SELECT count(*) FROM notes) AS n, (SELECT count(*) FROM projects) AS p, (SELECT count(*) FROM sites) AS s, (SELECT count(*) FROM knowledge_files) AS k
-- query: where_equality
SELECT name, stage, amount FROM opportunities WHERE stage = 'closed_won'
-- query: where_in_list
SELECT id, status FROM leads WHERE status IN ('new', 'qualified')
-- query: where_between_amount
SELECT name, amount FROM opportunities WHERE amount BETWEEN 10000 AND 60000
-- query: where_like_prefix
SELECT email FROM contacts WHERE email LIKE 'c1%'
-- query: where_ilike
SELECT name FROM accounts WHERE name ILIKE '%a%'
-- query: where_is_null
SELECT id FROM contacts WHERE email IS NULL
-- query: where_is_not_null_and_or
SELECT id FROM opportunities WHERE close_date IS NOT NULL AND (stage = 'proposal' OR probability > 50)
-- query: where_not
SELECT id FROM leads WHERE NOT (score > 50)
-- query: where_distinct_from
SELECT id FROM contacts WHERE title IS DISTINCT FROM 'CEO'
-- query: order_by_limit_offset
SELECT name, amount FROM opportunities ORDER BY amount DESC, id LIMIT 5 OFFSET 2
-- query: fetch_first
SELECT name FROM accounts ORDER BY name, id FETCH FIRST 3 ROWS ONLY
-- query: distinct_values
SELECT DISTINCT industry FROM accounts
-- query: distinct_on
SELECT DISTINCT ON (account_id) account_id, name, amount FROM opportunities ORDER BY account_id, amount DESC, id
-- query: group_by_count
SELECT stage, count(*) FROM opportunities GROUP BY stage
-- query: group_by_sum_avg
SELECT stage, sum(amount), avg(amount), min(amount), max(amount) FROM opportunities GROUP BY stage
-- query: group_by_having
SELECT industry, count(*) AS n FROM accounts GROUP BY industry HAVING count(*) > 1
-- query: group_by_two_columns
SELECT source, status, count(*) FROM leads GROUP BY source, status
-- query: group_by_ordinal
SELECT lifecycle_stage, count(*) FROM contacts GROUP BY 1 ORDER BY 2 DESC, 1
-- query: count_distinct
SELECT count(DISTINCT account_id) FROM contacts
-- query: aggregate_filter
SELECT count(*) FILTER (WHERE stage = 'closed_won') AS won, count(*) FILTER (WHERE stage = 'closed_lost') AS lost FROM opportunities
-- query: bool_aggregates
SELECT bool_and(amount > 0), bool_or(stage = 'negotiation'), every(probability >= 10) FROM opportunities
-- query: string_agg_ordered
SELECT account_id, string_agg(first_name, ', ' ORDER BY first_name, id) FROM (SELECT account_id, first_name, id FROM contacts ORDER BY id LIMIT 500) c GROUP BY account_id
-- query: array_agg_ordered
SELECT stage, array_agg(amount ORDER BY amount, id) FROM (SELECT stage, amount, id FROM opportunities ORDER BY id LIMIT 500) o GROUP BY stage
-- query: json_agg_ordered
SELECT kind, json_agg(subject ORDER BY subject, id) FROM (SELECT kind, subject, id FROM activities ORDER BY id LIMIT 500) a GROUP BY kind
-- query: jsonb_object_agg
SELECT jsonb_object_agg(stage, n) FROM (SELECT stage, count(*) AS n FROM opportunities GROUP BY stage LIMIT 50) s
-- query: stddev_variance
SELECT stddev(amount), variance(amount), stddev_pop(amount), var_pop(amount) FROM opportunities
-- query: percentiles
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount), percentile_disc(0.9) WITHIN GROUP (ORDER BY amount) FROM opportunities
-- query: mode_within_group
SELECT mode() WITHIN GROUP (ORDER BY industry) FROM accounts WHERE industry IS NOT NULL
-- query: corr_regr
SELECT round(corr(probability, amount)::numeric, 6), regr_count(probability, amount) FROM opportunities
-- query: grouping_sets
SELECT stage, currency, sum(amount) FROM opportunities GROUP BY GROUPING SETS ((stage), (currency), ())
-- query: rollup
SELECT kind, subject, count(*) FROM activities GROUP BY ROLLUP (kind, subject)
-- query: cube
SELECT source, status, count(*) FROM leads GROUP BY CUBE (source, status)
-- query: grouping_function
SELECT stage, GROUPING(stage), count(*) FROM opportunities GROUP BY ROLLUP (stage)
-- query: inner_join
SELECT c.first_name, a.name FROM contacts c JOIN accounts a ON a.id = c.account_id
-- query: inner_join_explicit
SELECT c.id, a.id FROM contacts c INNER JOIN accounts a ON a.id = c.account_id AND a.created_at <= now()
-- query: left_join
SELECT a.name, c.email FROM accounts a LEFT JOIN contacts c ON c.account_id = a.id
-- query: left_join_count
SELECT a.id, a.name, count(c.id) FROM accounts a LEFT JOIN contacts c ON c.account_id = a.id GROUP BY a.id, a.name
-- query: left_join_is_null_anti
SELECT a.name FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.id WHERE o.id IS NULL
-- query: right_join
SELECT a.name, o.name FROM accounts a RIGHT JOIN opportunities o ON o.account_id = a.id
-- query: full_join
SELECT a.name, s.city FROM accounts a FULL JOIN sites s ON s.account_id = a.id
-- query: full_outer_join_on_name
SELECT a.name, l.company FROM accounts a FULL OUTER JOIN leads l ON l.company = a.name
-- query: cross_join
SELECT a.name, p.name FROM accounts a CROSS JOIN projects p
-- query: comma_join
SELECT c.email, o.name FROM contacts c, opportunities o WHERE o.primary_contact_id = c.id
-- query: join_using
SELECT * FROM accounts JOIN sites USING (created_at)
-- query: natural_join
SELECT count(*) FROM contacts NATURAL JOIN leads
-- query: self_join
SELECT a1.name, a2.name FROM accounts a1 JOIN accounts a2 ON a1.industry = a2.industry AND a1.id < a2.id
-- query: self_join_unaliased_subquery
SELECT name FROM accounts WHERE employee_count > (SELECT avg(employee_count) FROM accounts)
-- query: three_way_join
SELECT a.name, c.first_name, o.amount FROM accounts a JOIN contacts c ON c.account_id = a.id JOIN opportunities o ON o.primary_contact_id = c.id
-- query: four_way_left_join
SELECT a.name, o.name, act.subject, n.body FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.id LEFT JOIN activities act ON act.opportunity_id = o.id LEFT JOIN notes n ON n.opportunity_id = o.id
-- query: join_on_name_across_tables
SELECT l.email, a.domain FROM leads l JOIN accounts a ON a.name = l.company
-- query: left_join_with_filter_in_on
SELECT a.name, o.amount FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.id AND o.stage = 'closed_won'
-- query: left_join_filter_in_where
SELECT a.name, o.amount FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.id WHERE a.industry = 'software'
-- query: parenthesized_join
SELECT a.name, c.email, s.city FROM (accounts a JOIN contacts c ON c.account_id = a.id) LEFT JOIN sites s ON s.account_id = a.id
-- query: join_on_subquery_condition
SELECT o.name FROM opportunities o JOIN accounts a ON a.id = o.account_id AND o.amount > (SELECT avg(amount) FROM opportunities)
-- query: join_derived_table
SELECT a.name, t.total FROM accounts a JOIN (SELECT account_id, sum(amount) AS total FROM opportunities GROUP BY account_id) t ON t.account_id = a.id
-- query: left_join_derived_table
SELECT a.name, t.n FROM accounts a LEFT JOIN (SELECT account_id, count(*) AS n FROM sites GROUP BY account_id) AS t ON t.account_id = a.id
-- query: join_members_of_projects_files
SELECT p.name, k.filename FROM projects p JOIN knowledge_files k ON k.project_id = p.id
-- query: scalar_subquery_in_select_known_bad_shape
SELECT o.id, (SELECT sum(amount) FROM opportunities) FROM opportunities o
-- query: scalar_subquery_in_select_count
SELECT a.name, (SELECT count(*) FROM contacts) AS all_contacts FROM accounts a
-- query: correlated_scalar_subquery
SELECT a.name, (SELECT count(*) FROM contacts c WHERE c.account_id = a.id) AS n FROM accounts a
-- query: correlated_scalar_max
SELECT a.name, (SELECT max(o.amount) FROM opportunities o WHERE o.account_id = a.id) FROM accounts a
-- query: scalar_subquery_in_where
SELECT name FROM opportunities WHERE amount > (SELECT avg(amount) FROM opportunities)
-- query: scalar_subquery_in_having_known_bad_shape
SELECT stage, count(*) FROM opportunities GROUP BY stage HAVING count(*) > (SELECT count(*) FROM opportunities) / 6
-- query: scalar_subquery_in_order_by_known_bad_shape
SELECT o.id, o.amount FROM opportunities o ORDER BY abs(o.amount - (SELECT avg(amount) FROM opportunities)), o.id LIMIT 1
-- query: scalar_subquery_in_join_on_known_bad_shape
SELECT o.id FROM opportunities o JOIN accounts a ON a.id = o.account_id AND (SELECT count(*) FROM opportunities) < 30
-- query: scalar_subquery_in_select_with_outer_filter
SELECT o.id, o.amount * 100 / (SELECT sum(amount) FROM opportunities) AS pct FROM opportunities o WHERE o.stage <> 'closed_lost'
-- query: correlated_exists
SELECT a.name FROM accounts a WHERE EXISTS (SELECT 1 FROM opportunities o WHERE o.account_id = a.id AND o.stage = 'closed_won')
-- query: correlated_not_exists
SELECT a.name FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = a.id)
-- query: in_subquery
SELECT first_name FROM contacts WHERE account_id IN (SELECT id FROM accounts WHERE industry = 'finance')
-- query: not_in_subquery
SELECT name FROM accounts WHERE id NOT IN (SELECT account_id FROM sites WHERE account_id IS NOT NULL)
-- query: any_subquery
SELECT name FROM opportunities WHERE amount > ANY (SELECT budget FROM projects WHERE budget IS NOT NULL)
-- query: all_subquery
SELECT name FROM opportunities WHERE amount >= ALL (SELECT amount FROM opportunities)
-- query: in_subquery_on_name
SELECT email FROM leads WHERE company IN (SELECT name FROM accounts)
-- query: exists_uncorrelated
SELECT count(*) FROM accounts WHERE EXISTS (SELECT 1 FROM projects WHERE status = 'active')
-- query: nested_subqueries_three_levels
SELECT name FROM accounts WHERE id IN (SELECT account_id FROM contacts WHERE id IN (SELECT primary_contact_id FROM opportunities WHERE amount > (SELECT avg(amount) FROM opportunities)))
-- query: subquery_in_case
SELECT name, CASE WHEN amount > (SELECT avg(amount) FROM opportunities) THEN 'big' ELSE 'small' END FROM opportunities
-- query: subquery_in_function_argument
SELECT round(100.0 * count(*) / (SELECT count(*) FROM leads), 2) FROM leads WHERE status = 'converted'
-- query: derived_table_aggregate
SELECT avg(n) FROM (SELECT account_id, count(*) AS n FROM contacts GROUP BY account_id) t
-- query: derived_table_nested
SELECT max(total) FROM (SELECT stage, total FROM (SELECT stage, sum(amount) AS total FROM opportunities GROUP BY stage) x) y
-- query: derived_table_with_column_aliases
SELECT s, n FROM (SELECT stage, count(*) FROM opportunities GROUP BY stage) AS t(s, n)
-- query: table_alias_column_list
SELECT x.a, x.b FROM accounts AS x(a, b)
-- query: window_row_number
SELECT name, amount, row_number() OVER (ORDER BY amount DESC, id) FROM opportunities
-- query: window_partition_rank
SELECT stage, name, rank() OVER (PARTITION BY stage ORDER BY amount DESC, id) FROM opportunities
-- query: window_dense_rank
SELECT industry, dense_rank() OVER (ORDER BY industry NULLS LAST) FROM accounts
-- query: window_running_sum
SELECT id, amount, sum(amount) OVER (ORDER BY created_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM opportunities
-- query: window_moving_avg
SELECT id, avg(amount) OVER (ORDER BY created_at, id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM opportunities
-- query: window_lag_lead
SELECT id, lag(amount) OVER (ORDER BY created_at, id), lead(amount, 2, 0) OVER (ORDER BY created_at, id) FROM opportunities
-- query: window_first_last_value
SELECT stage, first_value(name) OVER w, last_value(name) OVER w FROM opportunities WINDOW w AS (PARTITION BY stage ORDER BY amount, id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
-- query: window_nth_value
SELECT nth_value(name, 2) OVER (ORDER BY amount, id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM opportunities
-- query: window_ntile
SELECT id, ntile(4) OVER (ORDER BY score, id) FROM leads
-- query: window_percent_rank_cume_dist
SELECT id, percent_rank() OVER (ORDER BY score, id), cume_dist() OVER (ORDER BY score, id) FROM leads
-- query: window_count_partition
SELECT account_id, count(*) OVER (PARTITION BY account_id) FROM contacts
-- query: window_share_of_total
SELECT id, amount / sum(amount) OVER () AS share FROM opportunities
-- query: window_over_aggregate
SELECT stage, sum(amount), rank() OVER (ORDER BY sum(amount) DESC, stage) FROM opportunities GROUP BY stage
-- query: window_in_derived_table_top_n
SELECT * FROM (SELECT stage, name, amount, row_number() OVER (PARTITION BY stage ORDER BY amount DESC, id) AS rn FROM opportunities) t WHERE rn <= 2
-- query: window_range_frame
SELECT id, count(*) OVER (ORDER BY score RANGE BETWEEN 10 PRECEDING AND 10 FOLLOWING) FROM leads
-- query: window_filter_aggregate
SELECT id, count(*) FILTER (WHERE completed_at IS NOT NULL) OVER (PARTITION BY kind) FROM activities
-- query: cte_simple
WITH won AS (SELECT * FROM opportunities WHERE stage = 'closed_won') SELECT count(*), sum(amount) FROM won
-- query: cte_two_chained
WITH a AS (SELECT id, name FROM accounts), b AS (SELECT a.name, c.email FROM a JOIN contacts c ON c.account_id = a.id) SELECT * FROM b
-- query: cte_used_twice
WITH totals AS (SELECT account_id, sum(amount) AS t FROM opportunities GROUP BY account_id) SELECT x.account_id, y.account_id FROM totals x JOIN totals y ON x.t = y.t AND x.account_id IS DISTINCT FROM y.account_id
-- query: cte_shadowing_table_name
WITH contacts AS (SELECT * FROM contacts WHERE email IS NOT NULL) SELECT count(*) FROM contacts
-- query: cte_shadowing_other_table
WITH accounts AS (SELECT id, company AS name FROM leads) SELECT count(*), count(name) FROM accounts
-- query: cte_shadowing_in_subquery_scope
SELECT (SELECT count(*) FROM (WITH notes AS (SELECT * FROM notes WHERE account_id IS NOT NULL) SELECT * FROM notes) n), (SELECT count(*) FROM notes)
-- query: cte_materialized
WITH big AS MATERIALIZED (SELECT * FROM opportunities WHERE amount > 20000) SELECT stage, count(*) FROM big GROUP BY stage
-- query: cte_not_materialized
WITH small AS NOT MATERIALIZED (SELECT * FROM opportunities WHERE amount <= 20000) SELECT count(*) FROM small
-- query: cte_with_column_names
WITH s(stage, n) AS (SELECT stage, count(*) FROM opportunities GROUP BY stage) SELECT stage FROM s WHERE n > 1
-- query: cte_referencing_earlier_cte_and_table
WITH a AS (SELECT id FROM accounts WHERE industry IS NOT NULL), c AS (SELECT * FROM contacts WHERE account_id IN (SELECT id FROM a)) SELECT count(*) FROM c JOIN accounts ON accounts.id = c.account_id
-- query: cte_nested_in_cte
WITH outer_cte AS (WITH inner_cte AS (SELECT * FROM leads WHERE score > 30) SELECT status, count(*) AS n FROM inner_cte GROUP BY status) SELECT * FROM outer_cte
-- query: cte_in_subquery
SELECT name FROM accounts WHERE id IN (WITH x AS (SELECT account_id FROM opportunities WHERE stage = 'proposal') SELECT account_id FROM x)
-- query: recursive_cte_counter
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i, (SELECT count(*) FROM contacts) FROM n
-- query: recursive_cte_over_table
WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM accounts UNION ALL SELECT c.id, chain.depth + 1 FROM chain JOIN contacts c ON c.account_id = chain.id WHERE chain.depth < 1) SELECT depth, count(*) FROM chain GROUP BY depth
-- query: recursive_cte_months
WITH RECURSIVE months(m) AS (SELECT date '2024-01-01' UNION ALL SELECT (m + interval '1 month')::date FROM months WHERE m < date '2024-12-01') SELECT m, (SELECT count(*) FROM opportunities o WHERE date_trunc('month', o.close_date) = m) FROM months
-- query: recursive_cte_table_in_both_arms
WITH RECURSIVE r(id, amount, lvl) AS (SELECT id, amount, 1 FROM opportunities WHERE stage = 'prospecting' UNION ALL SELECT o.id, o.amount, r.lvl + 1 FROM r JOIN opportunities o ON o.amount = r.amount + 250 WHERE r.lvl < 3) SELECT lvl, count(*) FROM r GROUP BY lvl
-- query: recursive_cte_with_non_recursive_sibling
WITH RECURSIVE base AS (SELECT score FROM leads), r(x) AS (SELECT min(score) FROM base UNION ALL SELECT x + 10 FROM r WHERE x < 100) SELECT count(*) FROM r
-- query: union_distinct
SELECT email FROM contacts WHERE email IS NOT NULL UNION SELECT email FROM leads
-- query: union_all
SELECT 'contact' AS kind, first_name FROM contacts UNION ALL SELECT 'lead', first_name FROM leads
-- query: union_all_counts
SELECT 'accounts', count(*) FROM accounts UNION ALL SELECT 'sites', count(*) FROM sites UNION ALL SELECT 'projects', count(*) FROM projects
-- query: intersect
SELECT company FROM leads INTERSECT SELECT name FROM accounts
-- query: intersect_all
SELECT first_name FROM contacts INTERSECT ALL SELECT first_name FROM leads
-- query: except
SELECT name FROM accounts EXCEPT SELECT company FROM leads
-- query: except_all
SELECT last_name FROM contacts EXCEPT ALL SELECT last_name FROM leads
-- query: union_with_order_limit
SELECT name FROM accounts UNION SELECT company FROM leads WHERE company IS NOT NULL ORDER BY 1 LIMIT 4
-- query: parenthesized_set_operation_arms
(SELECT id FROM opportunities ORDER BY amount DESC, id LIMIT 3) UNION ALL (SELECT id FROM opportunities ORDER BY amount, id LIMIT 3)
-- query: set_operation_in_subquery
SELECT count(*) FROM (SELECT account_id FROM contacts UNION SELECT account_id FROM opportunities) u
-- query: set_operation_in_cte
WITH people AS (SELECT first_name, last_name FROM contacts UNION ALL SELECT first_name, last_name FROM leads) SELECT last_name, count(*) FROM people GROUP BY last_name
-- query: lateral_subquery_top_per_account
SELECT a.name, t.name, t.amount FROM accounts a CROSS JOIN LATERAL (SELECT o.name, o.amount FROM opportunities o WHERE o.account_id = a.id ORDER BY o.amount DESC, o.id LIMIT 1) t
-- query: left_join_lateral
SELECT a.name, t.n FROM accounts a LEFT JOIN LATERAL (SELECT count(*) AS n FROM sites s WHERE s.account_id = a.id) t ON true
-- query: lateral_comma
SELECT c.id, x.cnt FROM contacts c, LATERAL (SELECT count(*) AS cnt FROM activities act WHERE act.contact_id = c.id) x
-- query: lateral_uncorrelated_table
SELECT a.id, x.total FROM accounts a, LATERAL (SELECT sum(amount) AS total FROM opportunities) x
-- query: lateral_generate_series
SELECT a.name, g.i FROM accounts a, LATERAL generate_series(1, 2) AS g(i)
-- query: generate_series_calendar_join
SELECT d::date, count(o.id) FROM generate_series(date '2024-01-01', date '2024-06-01', interval '1 month') AS d LEFT JOIN opportunities o ON date_trunc('month', o.created_at) = date_trunc('month', d) GROUP BY d
-- query: unnest_array
SELECT u.x, count(*) FROM contacts c, unnest(ARRAY[c.first_name, c.last_name]) AS u(x) GROUP BY u.x
-- query: values_top_level
VALUES (1, 'one'), (2, 'two')
-- query: values_joined_with_table
SELECT v.label, count(o.id) FROM (VALUES ('prospecting', 'early'), ('closed_won', 'won')) AS v(stage, label) LEFT JOIN opportunities o ON o.stage = v.stage GROUP BY v.label
-- query: case_searched
SELECT CASE WHEN score >= 70 THEN 'hot' WHEN score >= 40 THEN 'warm' ELSE 'cold' END AS temp, count(*) FROM leads GROUP BY 1
-- query: case_simple
SELECT CASE kind WHEN 'call' THEN 1 WHEN 'email' THEN 2 ELSE 0 END, subject FROM activities
-- query: coalesce_nullif
SELECT coalesce(industry, 'unknown'), nullif(employee_count, 0) FROM accounts
-- query: greatest_least
SELECT greatest(amount, 5000), least(probability, 50) FROM opportunities
-- query: string_functions
SELECT lower(name), upper(name), initcap(lower(name)), length(name), substring(name, 1, 3), left(name, 2), right(name, 2), reverse(name) FROM accounts
-- query: string_functions_more
SELECT replace(email, '@', ' at '), split_part(email, '@', 2), position('@' IN email), strpos(email, '.'), concat(first_name, ' ', last_name), concat_ws('-', first_name, title) FROM contacts WHERE email IS NOT NULL
-- query: trim_and_pattern
SELECT trim(both ' ' FROM '  x  '), btrim(name), ltrim(name, 'A'), rtrim(name, 'e'), starts_with(name, 'A') FROM accounts
-- query: regexp_functions
SELECT regexp_replace(email, '[0-9]+', '#', 'g'), email ~ '^c1', email ~* '^C' FROM contacts WHERE email IS NOT NULL
-- query: regexp_match
SELECT regexp_match(body, '\[(\w+)\]') FROM notes
-- query: string_concat_operator
SELECT first_name || ' ' || last_name AS full_name FROM contacts
-- query: format_and_md5
SELECT format('%s (%s)', name, stage), md5(name) FROM opportunities
-- query: translate_ascii_chr
SELECT translate(name, 'ae', 'AE'), ascii(name), chr(65) FROM accounts
-- query: string_to_array_and_back
SELECT array_to_string(string_to_array(email, '@'), ' | ') FROM leads
-- query: similar_to
SELECT name FROM accounts WHERE name SIMILAR TO '(A|G|I)%'
-- query: math_functions
SELECT abs(-amount), ceil(amount / 7), floor(amount / 7), round(amount / 7, 2), trunc(amount / 7, 1), sign(amount), sqrt(amount), power(probability, 2) FROM opportunities
-- query: math_more
SELECT mod(score, 7), score % 5, div(score, 3), ln(score + 1), log(score + 1), exp(1.0), pi() FROM leads
-- query: width_bucket
SELECT width_bucket(score, 0, 100, 5) AS bucket, count(*) FROM leads GROUP BY 1
-- query: integer_arithmetic
SELECT score * 2 + 1, score / 3, -score FROM leads
-- query: date_trunc_group
SELECT date_trunc('month', created_at) AS month, count(*) FROM contacts GROUP BY 1
-- query: extract_parts
SELECT extract(year FROM created_at), extract(quarter FROM created_at), extract(dow FROM created_at), date_part('month', created_at) FROM accounts
-- query: date_arithmetic
SELECT close_date, close_date + 30, close_date - date '2024-01-01' FROM opportunities WHERE close_date IS NOT NULL
-- query: interval_arithmetic
SELECT id, completed_at - due_at AS took FROM activities WHERE completed_at IS NOT NULL
-- query: age_and_make_date
SELECT age(date '2025-01-01', start_date), make_date(2024, 6, 1) FROM projects WHERE start_date IS NOT NULL
-- query: to_char_formats
SELECT to_char(created_at, 'YYYY-MM'), to_char(amount, 'FM999999.00') FROM opportunities
-- query: to_date_to_timestamp
SELECT to_date('2024-03-05', 'YYYY-MM-DD'), to_timestamp('2024-03-05 10:00', 'YYYY-MM-DD HH24:MI')
-- query: at_time_zone
SELECT created_at AT TIME ZONE 'UTC' FROM sites
-- query: interval_literals
SELECT count(*) FROM activities WHERE due_at < timestamptz '2024-06-01' + interval '3 months' AND due_at > timestamptz '2024-06-01' - INTERVAL '30' DAY
-- query: timestamp_comparison
SELECT id FROM notes WHERE created_at >= '2024-06-01' AND created_at < '2024-09-01'
-- query: date_bin
SELECT date_bin('7 days', due_at, timestamptz '2024-01-01'), count(*) FROM activities GROUP BY 1
-- query: make_interval_and_justify
SELECT justify_days(make_interval(days => 45)), justify_hours(interval '50 hours')
-- query: casts
SELECT amount::int, amount::text, probability::numeric(5, 2), CAST(score AS bigint), '42'::integer FROM opportunities, leads WHERE leads.score > 90
-- query: cast_to_date_and_uuid
SELECT created_at::date, id::text FROM projects
-- query: json_building
SELECT json_build_object('name', name, 'stage', stage), jsonb_build_array(amount, probability) FROM opportunities
-- query: json_operators
SELECT j ->> 'name', j -> 'stage' FROM (SELECT to_jsonb(o) AS j FROM opportunities o) t
-- query: row_to_json
SELECT row_to_json(s) FROM (SELECT name, city FROM sites) s
-- query: jsonb_path_ops
SELECT j #>> '{name}', j ? 'city' FROM (SELECT jsonb_build_object('name', name, 'city', city) AS j FROM sites) t
-- query: array_functions
SELECT array_length(arr, 1), cardinality(arr), arr[1], array_position(arr, 'x') FROM (SELECT array_agg(first_name ORDER BY first_name, id) AS arr FROM (SELECT first_name, id FROM contacts ORDER BY id LIMIT 500) c) t
-- query: array_any_operator
SELECT name FROM accounts WHERE industry = ANY (ARRAY['software', 'retail'])
-- query: array_overlap_contains
SELECT count(*) FROM (SELECT array_agg(stage ORDER BY stage) AS s FROM (SELECT account_id, stage FROM opportunities ORDER BY id LIMIT 1000) o GROUP BY account_id) t WHERE s && ARRAY['closed_won'] OR s @> ARRAY['proposal']
-- query: num_nulls
SELECT num_nulls(email, title, account_id), num_nonnulls(email, title) FROM contacts
-- query: row_constructor_comparison
SELECT id FROM opportunities WHERE (stage, probability) = ('proposal', 50)
-- query: in_tuple_list
SELECT id FROM opportunities WHERE (stage, currency) IN (('proposal', 'USD'), ('negotiation', 'EUR'))
-- query: boolean_expressions
SELECT id, (score > 50) AS hot, (score > 50) IS TRUE, NOT (score > 50) FROM leads
-- query: order_by_nulls_first
SELECT name, employee_count FROM accounts ORDER BY employee_count NULLS FIRST, id
-- query: order_by_expression
SELECT name FROM opportunities ORDER BY amount * probability DESC, id LIMIT 6
-- query: having_without_group
SELECT count(*) FROM sites HAVING count(*) > 0
-- query: group_by_expression
SELECT lower(left(name, 1)) AS initial, count(*) FROM accounts GROUP BY lower(left(name, 1))
-- query: pipeline_funnel
SELECT stage, count(*) AS n, sum(amount * probability / 100) AS weighted FROM opportunities GROUP BY stage ORDER BY weighted DESC, stage
-- query: win_rate_by_account
SELECT a.name, count(*) FILTER (WHERE o.stage = 'closed_won')::numeric / nullif(count(*), 0) AS win_rate FROM accounts a JOIN opportunities o ON o.account_id = a.id GROUP BY a.id, a.name
-- query: activity_completion_by_owner
SELECT owner_id, count(*) AS total, count(completed_at) AS done FROM activities GROUP BY owner_id
-- query: overdue_activities
SELECT subject, due_at FROM activities WHERE completed_at IS NULL AND due_at < timestamptz '2024-09-01'
-- query: notes_per_entity
SELECT CASE WHEN contact_id IS NOT NULL THEN 'contact' WHEN account_id IS NOT NULL THEN 'account' ELSE 'other' END, count(*) FROM notes GROUP BY 1
-- query: projects_budget_per_status
SELECT status, sum(budget), avg(due_date - start_date) FROM projects GROUP BY status
-- query: sites_per_country
SELECT country, count(*), count(DISTINCT city) FROM sites GROUP BY country
-- query: knowledge_files_by_type
SELECT content_type, count(*), sum(size_bytes), max(size_bytes) FROM knowledge_files GROUP BY content_type
-- query: leads_converted_contacts
SELECT l.email, c.email FROM leads l JOIN contacts c ON c.id = l.converted_contact_id
-- query: leads_source_conversion
SELECT source, avg(score), count(*) FILTER (WHERE status = 'converted') FROM leads GROUP BY source
-- query: contacts_without_activity
SELECT c.id FROM contacts c WHERE NOT EXISTS (SELECT 1 FROM activities a WHERE a.contact_id = c.id)
-- query: accounts_revenue_ranking
SELECT name, annual_revenue, rank() OVER (ORDER BY annual_revenue DESC NULLS LAST, id) FROM accounts
-- query: opportunity_age_buckets
SELECT CASE WHEN close_date IS NULL THEN 'open' WHEN close_date < date '2024-07-01' THEN 'h1' ELSE 'later' END AS bucket, count(*), sum(amount) FROM opportunities GROUP BY 1
-- query: account_contact_opportunity_summary
SELECT a.name, count(DISTINCT c.id) AS contacts, count(DISTINCT o.id) AS deals, coalesce(sum(DISTINCT o.amount), 0) FROM accounts a LEFT JOIN contacts c ON c.account_id = a.id LEFT JOIN opportunities o ON o.account_id = a.id GROUP BY a.id, a.name
-- query: select_without_from
SELECT 1 + 1, 'constant', NULL::text
-- query: select_literal_from_table
SELECT 1 FROM projects
-- query: table_statement
TABLE sites
-- query: schema_qualified_table
SELECT count(*) FROM public.contacts
-- query: schema_qualified_with_alias
SELECT c.email FROM public.contacts AS c JOIN public.accounts a ON a.id = c.account_id
-- query: uppercase_table_name
SELECT COUNT(*) FROM CONTACTS
-- query: quoted_lowercase_table_name
SELECT count(*) FROM "contacts"
-- query: whole_row_json
SELECT to_json(a) ->> 'name' FROM accounts a
-- query: table_name_as_qualifier
SELECT accounts.name, sites.city FROM accounts JOIN sites ON sites.account_id = accounts.id
-- query: comments_everywhere
SELECT /* the name */ name -- trailing
FROM accounts /* a block
comment */ WHERE industry IS NOT NULL
-- query: dollar_quoted_literal
SELECT count(*) FROM accounts WHERE name <> $$It's$$
-- query: escape_string_literal
SELECT count(*) FROM notes WHERE body LIKE E'%\\[%'
-- query: multiline_formatting
SELECT
    a.name,
    count(*)
FROM
    accounts AS a
    JOIN sites AS s ON s.account_id = a.id
GROUP BY
    a.name
-- query: trailing_semicolon
SELECT count(*) FROM leads;
-- query: limit_zero
SELECT * FROM accounts LIMIT 0
-- query: exists_in_select_list
SELECT a.name, EXISTS (SELECT 1 FROM sites s WHERE s.account_id = a.id) FROM accounts a
-- query: array_subquery
SELECT a.name, ARRAY(SELECT s.city FROM sites s WHERE s.account_id = a.id ORDER BY s.city, s.id LIMIT 50) FROM accounts a
-- query: subquery_in_group_by_expression
SELECT amount > (SELECT avg(amount) FROM opportunities) AS above, count(*) FROM opportunities GROUP BY 1
-- query: scalar_subquery_comparing_two_tables
SELECT (SELECT count(*) FROM leads) - (SELECT count(*) FROM contacts)
-- query: distinct_aggregate_over_join
SELECT count(DISTINCT a.industry), count(DISTINCT s.country) FROM accounts a JOIN sites s ON s.account_id = a.id
-- query: window_over_join
SELECT a.name, o.amount, sum(o.amount) OVER (PARTITION BY a.id) FROM accounts a JOIN opportunities o ON o.account_id = a.id
-- query: union_inside_lateral
SELECT a.id, x.n FROM accounts a, LATERAL (SELECT count(*) AS n FROM (SELECT id FROM contacts c WHERE c.account_id = a.id UNION ALL SELECT id FROM sites s WHERE s.account_id = a.id) u) x
-- query: cte_and_window_and_join
WITH ranked AS (SELECT o.*, row_number() OVER (PARTITION BY account_id ORDER BY amount DESC, id) AS rn FROM opportunities o) SELECT a.name, r.name, r.amount FROM ranked r JOIN accounts a ON a.id = r.account_id WHERE r.rn = 1
-- query: full_join_two_aggregates
SELECT coalesce(x.account_id, y.account_id), x.n, y.m FROM (SELECT account_id, count(*) AS n FROM contacts GROUP BY account_id) x FULL JOIN (SELECT account_id, count(*) AS m FROM opportunities GROUP BY account_id) y ON x.account_id = y.account_id
-- query: right_join_filtered_derived
SELECT s.city, t.name FROM (SELECT * FROM accounts WHERE industry = 'retail') t RIGHT JOIN sites s ON s.account_id = t.id
-- query: cross_join_counts
SELECT x.n * y.n FROM (SELECT count(*) AS n FROM accounts) x CROSS JOIN (SELECT count(*) AS n FROM projects) y
-- query: in_values_list_subquery
SELECT count(*) FROM opportunities WHERE stage IN (VALUES ('proposal'), ('negotiation'))
-- query: between_dates
SELECT count(*) FROM opportunities WHERE close_date BETWEEN date '2024-03-01' AND date '2024-09-30'
-- query: not_between_symmetric
SELECT count(*) FROM leads WHERE score NOT BETWEEN 20 AND 80
-- query: coalesce_over_left_join
SELECT a.name, coalesce(sum(o.amount), 0) FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.id GROUP BY a.id, a.name
-- query: activity_kinds_pivot
SELECT owner_id, count(*) FILTER (WHERE kind = 'call') AS calls, count(*) FILTER (WHERE kind = 'email') AS emails, count(*) FILTER (WHERE kind = 'meeting') AS meetings FROM activities GROUP BY owner_id
-- query: files_projects_accounts_chain
SELECT a.name, p.name, k.title FROM knowledge_files k LEFT JOIN projects p ON p.id = k.project_id LEFT JOIN accounts a ON a.id = p.account_id
-- query: correlated_subquery_in_where_with_aggregate
SELECT o.name FROM opportunities o WHERE o.amount > (SELECT avg(o2.amount) FROM opportunities o2 WHERE o2.stage = o.stage)
-- query: correlated_subquery_in_having
SELECT a.industry, count(*) FROM accounts a GROUP BY a.industry HAVING count(*) >= (SELECT count(*) FROM projects p WHERE p.status = 'active') - 2
-- query: exists_with_join_inside
SELECT c.id FROM contacts c WHERE EXISTS (SELECT 1 FROM opportunities o JOIN accounts a ON a.id = o.account_id WHERE o.primary_contact_id = c.id AND a.industry IS NOT NULL)
-- query: cte_union_recursive_with_table_in_recursive_arm
WITH RECURSIVE ids(id, n) AS (SELECT id, 1 FROM projects WHERE status = 'active' UNION SELECT k.id, ids.n + 1 FROM ids JOIN knowledge_files k ON k.project_id = ids.id WHERE ids.n < 2) SELECT n, count(*) FROM ids GROUP BY n
-- query: limit_with_all
SELECT id FROM sites ORDER BY id LIMIT ALL
-- query: offset_only
SELECT id FROM leads ORDER BY id OFFSET 5
