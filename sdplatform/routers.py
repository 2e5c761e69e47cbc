class ChannelsLiteRouter:
    """Keep channels-lite's message tables in the ``channels`` SQLite database.

    Unlike the router channels-lite ships, this one also keeps every other
    app out of that database, so ``migrate --database channels`` creates only
    the layer's tables.
    """

    app_label = "channels_lite"
    database = "channels"

    def db_for_read(self, model, **hints):
        return self.database if model._meta.app_label == self.app_label else None

    def db_for_write(self, model, **hints):
        return self.database if model._meta.app_label == self.app_label else None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return (db == self.database) == (app_label == self.app_label)
