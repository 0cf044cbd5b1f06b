"""The three roles and what each may do.

A capability is a Django permission (`accounts.<codename>`) on the `Capability` model; a role is a
Django group holding a set of them. The groups are created by a migration from this table.
"""

RISK = "risk"
FINANCE = "finance"
ADMIN = "admin"
ROLES = (RISK, FINANCE, ADMIN)

CAPABILITIES = {
    "view_overview": "See the overview dashboard",
    "view_breaks": "See breaks and runs",
    "work_breaks": "Assign, comment on and accept breaks",
    "start_runs": "Start and cancel reconciliation runs",
    "upload_datasets": "Upload and import datasets",
    "view_corrections": "See corrections and their approvals",
    "propose_corrections": "Propose corrections",
    "approve_corrections": "Approve or reject corrections",
    "view_reports": "See the list of reports",
    "download_reports": "Generate and download reports",
    "configure_rules": "Edit and publish rule sets and pricing configurations",
    "manage_sources": "Manage sources, accounts and exchange credentials",
    "manage_schedules": "Manage run schedules",
    "view_audit": "See and verify the audit log",
    "manage_users": "Manage users and their roles",
}

_READ = {"view_overview", "view_breaks", "view_corrections", "view_reports"}

ROLE_CAPABILITIES = {
    RISK: _READ
    | {
        "work_breaks",
        "start_runs",
        "upload_datasets",
        "propose_corrections",
        "approve_corrections",
        "download_reports",
    },
    FINANCE: _READ | {"download_reports"},
    # Separation of duties: those who set the approval limits do not approve against them; and
    # reports, the firm's figures, go to finance and risk only (admins see the list).
    ADMIN: set(CAPABILITIES) - {"approve_corrections", "download_reports"},
}
