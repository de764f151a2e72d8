"""URLs of the django-oauth-toolkit provider: DOT at the root, so both well-known documents
(OpenID and RFC 8414) are served for the issuer ``http://127.0.0.1:PORT``."""

from django.urls import include, path

urlpatterns = [path("", include("oauth2_provider.urls"))]
