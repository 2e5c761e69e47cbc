from django.urls import path

from cluster import views

app_name = "cluster"

urlpatterns = [
    path("", views.monitor, name="monitor"),
    path("nodes.json", views.monitor_data, name="monitor-data"),
]
