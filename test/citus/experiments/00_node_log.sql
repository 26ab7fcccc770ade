-- 00_node_log.sql: run on EVERY node (coordinator and each worker) before
-- the experiments, as postgres.  A ddl_command_start and a ddl_command_end
-- event trigger that record every DDL command the node runs (tag, role,
-- the objects pg_event_trigger_ddl_commands() reports, the top-level
-- statement), so that the experiments can tell which DDL Citus runs on
-- workers and whether event triggers see it.  Not propagated by Citus
-- (DDL propagation is off for this session).
SET citus.enable_ddl_propagation = off;
CREATE TABLE public.evlog (
    id          bigserial PRIMARY KEY,
    event       text,
    tag         text,
    usr         text,
    objs        text,
    top_query   text
);
GRANT SELECT ON public.evlog TO PUBLIC;
CREATE FUNCTION public.evlog_start() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.evlog(event, tag, usr, top_query)
    VALUES (TG_EVENT, TG_TAG, session_user || '/' || current_setting('role'), left(current_query(), 160));
END $$;
CREATE FUNCTION public.evlog_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.evlog(event, tag, usr, objs, top_query)
    SELECT TG_EVENT, TG_TAG, session_user || '/' || current_setting('role'),
           string_agg(c.command_tag || ' ' || coalesce(c.object_identity, '?'), '; '),
           left(current_query(), 160)
      FROM pg_event_trigger_ddl_commands() c;
END $$;
CREATE EVENT TRIGGER zz_evlog_start ON ddl_command_start EXECUTE FUNCTION public.evlog_start();
CREATE EVENT TRIGGER zz_evlog_end ON ddl_command_end EXECUTE FUNCTION public.evlog_end();
-- The log as text (ddl_command_end rows only: one per command, with the
-- objects), for run_command_on_workers(); and a reset between phases.
CREATE FUNCTION public.evlog_text() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT coalesce(string_agg(format('%s | %s | %s | %s', tag, usr, coalesce(objs, '-'),
                                      regexp_replace(top_query, '\s+', ' ', 'g')),
                               E'\n' ORDER BY id), '(nothing)')
      FROM public.evlog WHERE event = 'ddl_command_end'
$$;
CREATE FUNCTION public.evlog_reset() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$ TRUNCATE public.evlog $$;
