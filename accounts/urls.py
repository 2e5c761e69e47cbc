from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("delete/", views.delete_account, name="delete-account"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
]
