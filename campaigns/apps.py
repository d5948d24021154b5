from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self):
        from clozit import events

        from .dialing.killswitch import dialing_stops_export, dialing_stops_purge
        from .lifecycle.approval import approvals_export, approvals_purge

        # What staff's approvals and stops keep of a workspace: erased with it, and in its export.
        events.workspace_purging.connect(approvals_purge, dispatch_uid="campaigns.approvals_purge")
        events.workspace_purging.connect(dialing_stops_purge, dispatch_uid="campaigns.dialing_stops_purge")
        events.workspace_exporting.connect(approvals_export, dispatch_uid="campaigns.approvals_export")
        events.workspace_exporting.connect(dialing_stops_export, dispatch_uid="campaigns.dialing_stops_export")
