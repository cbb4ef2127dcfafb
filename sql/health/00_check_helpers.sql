-- What every health check shares: how a figure becomes ok / warning / critical, where the
-- thresholds come from (palmdb.health_thresholds, with per-run overrides as JSON), and the
-- one row helper each palmdb.check_<name>() ends with. Applied first (00), so the check
-- files after it can use them.

-- One rule for turning a figure into ok / warning / critical, shared by every check.
-- A threshold is crossed when the value is strictly beyond it, so a threshold of 0 means
-- "any at all". NULL thresholds are levels a check does not have; a NULL value is ok
-- (nothing measured, e.g. no cache statistics yet).
CREATE OR REPLACE FUNCTION palmdb.health_level(
    value double precision,
    warning double precision,
    critical double precision,
    lower_is_worse boolean DEFAULT false
)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT
        CASE
            WHEN value IS NULL THEN 'ok'
            WHEN NOT lower_is_worse AND value > critical THEN 'critical'
            WHEN NOT lower_is_worse AND value > warning THEN 'warning'
            WHEN lower_is_worse AND value < critical THEN 'critical'
            WHEN lower_is_worse AND value < warning THEN 'warning'
            ELSE 'ok'
        END
$$;

COMMENT ON FUNCTION palmdb.health_level(double precision, double precision, double precision, boolean) IS
    'ok, warning or critical for a value against its thresholds (strictly beyond = crossed)';

-- Every parameter a run can override, one row each: <name>_warning and <name>_critical for
-- a row of levels, <name> for a row with a value. `--threshold NAME=VALUE` takes these names.
CREATE OR REPLACE VIEW palmdb.health_threshold_parameters AS
SELECT
    p.parameter                                                AS parameter,
    p.value                                                    AS value,
    t.unit                                                     AS unit,
    t.name                                                     AS threshold_name,
    p.level                                                    AS level,
    t.description                                              AS description
FROM palmdb.health_thresholds AS t
CROSS JOIN LATERAL (
    VALUES
        (t.name || '_warning', t.warning, 'warning'),
        (t.name || '_critical', t.critical, 'critical'),
        (t.name, t.value, 'value')
) AS p (parameter, value, level)
WHERE p.value IS NOT NULL
ORDER BY parameter;

COMMENT ON VIEW palmdb.health_threshold_parameters IS
    'Every threshold parameter (what --threshold NAME and palmdb.checks(thresholds) accept) with its default and unit';

-- One override, as given in the JSON: a number in the parameter's unit (seconds, bytes,
-- rows ...), or text: a duration ('30s', '5 minutes') for seconds, a size ('10 MB') for
-- bytes. Refuses what it cannot read, negatives, and fractions of whole units.
CREATE OR REPLACE FUNCTION palmdb.health_threshold_value(parameter text, unit text, given jsonb)
RETURNS double precision
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    number double precision;
    expected text := CASE unit
        WHEN 'seconds' THEN 'a duration such as ''30s'' or a number of seconds'
        WHEN 'bytes' THEN 'a size such as ''10 MB'' or a number of bytes'
        WHEN 'ratio' THEN 'a ratio such as 0.8'
        ELSE format('a whole number of %s', unit)
    END;
BEGIN
    IF given IS NULL OR jsonb_typeof(given) = 'null' THEN
        RETURN NULL;
    ELSIF jsonb_typeof(given) = 'number' THEN
        number := (given #>> '{}')::double precision;
    ELSIF jsonb_typeof(given) = 'string' THEN
        BEGIN
            number := CASE unit
                WHEN 'seconds' THEN extract(epoch FROM (given #>> '{}')::interval)
                WHEN 'bytes' THEN pg_size_bytes(given #>> '{}')
                ELSE (given #>> '{}')::double precision
            END;
        EXCEPTION
            WHEN data_exception OR invalid_parameter_value THEN
                number := NULL;
        END;
    END IF;
    IF number IS NULL OR number = 'NaN' OR number IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'threshold %: % is not %', parameter, given, expected
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF number < 0 THEN
        RAISE EXCEPTION 'threshold %: % is negative; it must be %', parameter, given, expected
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF unit NOT IN ('seconds', 'ratio') AND number <> trunc(number) THEN
        RAISE EXCEPTION 'threshold %: % is not %', parameter, given, expected
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The checks read whole units as bigint and seconds as an interval: refuse what would
    -- overflow them (as the command line refuses durations over 100 years).
    IF unit NOT IN ('seconds', 'ratio') AND number >= 9223372036854775807 THEN
        RAISE EXCEPTION 'threshold %: % is more than 9223372036854775807 %', parameter, given, unit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF unit = 'seconds' AND number > 36500 * 86400.0 THEN
        RAISE EXCEPTION 'threshold %: % is longer than 100 years', parameter, given
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN number;
END
$$;

COMMENT ON FUNCTION palmdb.health_threshold_value(text, text, jsonb) IS
    'One threshold override read in its unit (number, duration text or size text); refuses bad values';

-- Refuses names (of checks, of thresholds) this database does not know, all at once and with
-- the list of known ones, so a typo never runs silently with the defaults.
CREATE OR REPLACE FUNCTION palmdb.health_refuse_unknown(what text, given text[], known text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unknown text;
BEGIN
    SELECT string_agg(format('"%s"', g.name), ', ' ORDER BY g.name)
    INTO unknown
    FROM unnest(given) AS g (name)
    WHERE g.name <> ALL (known);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown % %', what, unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = (
                      SELECT format('known %ss: %s', what, string_agg(k.name, ', ' ORDER BY k.name))
                      FROM unnest(known) AS k (name)
                  );
    END IF;
END
$$;

COMMENT ON FUNCTION palmdb.health_refuse_unknown(text, text[], text[]) IS
    'Raises invalid_parameter_value naming every given name that is not known, with the known ones as hint';

-- Every parameter's value for one run: the table's default, or the override given for it.
-- An unknown name is refused with the list of known ones, so a typo never runs silently
-- with the default.
CREATE OR REPLACE FUNCTION palmdb.health_settings(overrides jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    settings jsonb;
BEGIN
    overrides := coalesce(overrides, '{}');
    IF jsonb_typeof(overrides) <> 'object' THEN
        RAISE EXCEPTION 'thresholds must be a JSON object, not %', overrides
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. ''{"long_query_warning": "30s", "dead_rows_min": 500}''';
    END IF;
    PERFORM palmdb.health_refuse_unknown(
        'threshold',
        ARRAY(SELECT jsonb_object_keys(overrides)),
        ARRAY(SELECT p.parameter FROM palmdb.health_threshold_parameters AS p)
    );
    SELECT jsonb_object_agg(
        p.parameter,
        CASE
            WHEN overrides ? p.parameter
            THEN coalesce(palmdb.health_threshold_value(p.parameter, p.unit, overrides -> p.parameter), p.value)
            ELSE p.value
        END
    )
    INTO settings
    FROM palmdb.health_threshold_parameters AS p;
    RETURN settings;
END
$$;

COMMENT ON FUNCTION palmdb.health_settings(jsonb) IS
    'All threshold parameters for one run: palmdb.health_thresholds overlaid with the given overrides';

-- The row helper every check ends with. The check measures; this judges and shapes:
--   status: `status` when the check reached a verdict by its own rule, else ok when it could
--           not judge (`judged` false: too little data), else value against the levels;
--   remedy: shown only when the status is not ok; `advice` is shown whatever the status
--           (how to make a check that could not run work).
CREATE OR REPLACE FUNCTION palmdb.health_row(
    check_name      text,
    value           double precision,
    warning_level   double precision,
    critical_level  double precision,
    threshold       text,
    detail          text,
    remedy          text    DEFAULT NULL,
    lower_is_worse  boolean DEFAULT false,
    judged          boolean DEFAULT true,
    status          text    DEFAULT NULL,
    advice          text    DEFAULT NULL
)
RETURNS palmdb.health_check
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT
        health_row.check_name                                      AS name,
        v.status                                                   AS status,
        health_row.value                                           AS value,
        health_row.threshold                                       AS threshold,
        health_row.detail                                          AS detail,
        coalesce(
            CASE WHEN v.status <> 'ok' THEN health_row.remedy END,
            health_row.advice
        )                                                          AS remedy,
        health_row.warning_level                                   AS warning_level,
        health_row.critical_level                                  AS critical_level
    FROM (
        SELECT
            coalesce(
                health_row.status,
                CASE
                    WHEN health_row.judged THEN palmdb.health_level(
                        health_row.value,
                        health_row.warning_level,
                        health_row.critical_level,
                        health_row.lower_is_worse
                    )
                    ELSE 'ok'
                END
            )                                                      AS status
    ) AS v
$$;

COMMENT ON FUNCTION palmdb.health_row(text, double precision, double precision, double precision, text, text, text, boolean, boolean, text, text) IS
    'A check''s row: judges the value against its levels and keeps the remedy only when not ok';

-- `palmdb.checks(only_checks => ...)` runs a check when no list is given or it is listed.
CREATE OR REPLACE FUNCTION palmdb.health_selected(check_name text, only_checks text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT only_checks IS NULL OR check_name = ANY (only_checks)
$$;

GRANT EXECUTE ON FUNCTION palmdb.health_level(double precision, double precision, double precision, boolean) TO pg_monitor;
GRANT SELECT ON palmdb.health_threshold_parameters TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.health_threshold_value(text, text, jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.health_refuse_unknown(text, text[], text[]) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.health_settings(jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.health_row(text, double precision, double precision, double precision, text, text, text, boolean, boolean, text, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.health_selected(text, text[]) TO pg_monitor;
