"""The directory: people, logins, devices and groups (issue 4; docs/directory.md).

Public API:
- `store.DirectoryStore` (`DirectoryStore.for_store(sql_store)`): `resolve`, `resolve_many`,
  `policy_for_device`, people/flags/policies/inventory reads and writes, `purge_left`.
- `importers.import_people`, `importers.import_inventory`: parse an export and apply it.
- `watch.DropFolder`: re-import exports dropped into a folder.
- `routes.router`: /api/v1/people and /api/v1/groups; `cli.add_commands`: the CLI subcommands.
"""
