"""Moving owner columns between user ids and workspace ids, for the migrations that move the
owner foreign keys (campaigns 0018, billing 0010, telephony 0003).

A database migrated in one go needs nothing: accounts 0004 gave every account's workspace the
account's id. These matter when the ids differ, i.e. when those migrations are unapplied and
applied again after workspaces were made by the application (a test migrating back, a
rollback): going back, each workspace's rows name its account (the personal one's, else its
first owner); going forward again, each account's rows name its personal workspace.
Two steps through negative ids, so no value is ever taken twice (unique columns stay unique).
"""


def _pairs(apps, *, to_users: bool) -> list[tuple[int, int]]:
    Workspace = apps.get_model("accounts", "Workspace")
    Membership = apps.get_model("accounts", "Membership")
    pairs = []
    for workspace in Workspace.objects.only("pk", "personal_for_id").iterator():
        user_id = workspace.personal_for_id
        if user_id is None:
            owner = Membership.objects.filter(workspace=workspace, role="owner").order_by("pk").first()
            user_id = owner.user_id if owner else None
        if user_id is None or user_id == workspace.pk:
            continue
        if to_users:
            pairs.append((workspace.pk, user_id))
        elif workspace.personal_for_id is not None:
            pairs.append((user_id, workspace.pk))
    return pairs


def move(apps, schema_editor, *, tables: list[tuple[str, str]], to_users: bool) -> None:
    """Rewrite `column` of each (table, column) from workspace ids to user ids (`to_users`)
    or back."""
    pairs = _pairs(apps, to_users=to_users)
    if not pairs:
        return
    with schema_editor.connection.cursor() as cursor:
        for table, column in tables:
            for old, new in pairs:
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {column} = %s", [-new, old])
            cursor.execute(f"UPDATE {table} SET {column} = -{column} WHERE {column} < 0")
        if schema_editor.connection.vendor == "postgresql":
            # Rows updated twice in one transaction have their other foreign keys checked again,
            # deferred: check them now, or the next ALTER TABLE finds "pending trigger events".
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
