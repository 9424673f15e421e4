"""Teams inside an org (Better Auth's organization plugin with teams enabled).

`store` reads and writes teams and their members (sql/145_teams.sql);
`sharing` is the one rule for who reads a conversation of a team: its
members, its creator and the org's owners and admins.
"""
