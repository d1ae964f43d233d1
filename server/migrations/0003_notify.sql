-- Several server instances on one database: every write to a challenge, device or enrollment
-- notifies the channel `nyckel:<schema>` with "<table> <hex key> <application_name>" (the
-- writer's instance, so it can skip its own). The trigger runs inside the writing transaction
-- and PostgreSQL delivers the notice at its commit, so a notice never precedes the data.
CREATE FUNCTION nyckel_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_key bytea;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed_key := OLD.key;
    ELSE
        changed_key := NEW.key;
    END IF;
    PERFORM pg_notify(
        'nyckel:' || TG_TABLE_SCHEMA,
        TG_TABLE_NAME || ' ' || encode(changed_key, 'hex') || ' ' || current_setting('application_name')
    );
    RETURN NULL;
END
$$;
CREATE TRIGGER challenges_notify AFTER INSERT OR DELETE ON challenges
    FOR EACH ROW EXECUTE FUNCTION nyckel_notify_change();
CREATE TRIGGER challenges_notify_update AFTER UPDATE ON challenges
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value) EXECUTE FUNCTION nyckel_notify_change();
CREATE TRIGGER devices_notify AFTER INSERT OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION nyckel_notify_change();
CREATE TRIGGER devices_notify_update AFTER UPDATE ON devices
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value) EXECUTE FUNCTION nyckel_notify_change();
CREATE TRIGGER enrollments_notify AFTER INSERT OR DELETE ON enrollments
    FOR EACH ROW EXECUTE FUNCTION nyckel_notify_change();
CREATE TRIGGER enrollments_notify_update AFTER UPDATE ON enrollments
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value) EXECUTE FUNCTION nyckel_notify_change();
