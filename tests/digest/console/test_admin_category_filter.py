from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def test_it_filters_papers_by_category(admin_client):
    PaperFactory(title="Vision paper", categories=["cs.CV"])
    PaperFactory(title="Learning paper", categories=["cs.LG"])

    page = admin_client.get(reverse("admin:digest_paper_changelist"), {"category": "cs.CV"})

    assert "Vision paper" in page.content.decode()
    assert "Learning paper" not in page.content.decode()


@pytest.mark.parametrize("value", ["cs\x00LG", "\x00", "cs.LG\n"])
def test_it_refuses_a_category_with_control_characters_without_an_error(admin_client, value):
    PaperFactory(categories=["cs.LG"])
    url = reverse("admin:digest_paper_changelist")

    response = admin_client.get(url, {"category": value})

    assert response.status_code == 302
    assert response["Location"] == url + "?e=1"  # the admin's "incorrect lookup" answer
