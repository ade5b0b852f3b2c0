"""Admin and templates in the graph: order, inputs, secrecy and outputs."""

from __future__ import annotations

from tests.unit.conftest import run_stack
from tools.mock_engine import EngineRun, is_secret_value, unwrap

ADMIN = "pulumi-python:dynamic/coder:Admin"
TEMPLATE = "pulumi-python:dynamic/coder:Template"


def templates(run: EngineRun) -> dict[str, dict]:
    return {unwrap(r.inputs)["name"]: r for r in run.by_type(TEMPLATE)}


def test_admin_comes_after_the_healthy_server_and_templates_after_the_admin(vermissian_up: EngineRun) -> None:
    admin = vermissian_up.one(ADMIN)
    coder = vermissian_up.one("docker:index/container:Container", "coder-container")
    assert coder.urn in admin.property_dependencies["url"]
    for template in templates(vermissian_up).values():
        assert admin.urn in template.dependencies
        assert coder.urn in template.property_dependencies["url"]


def test_admin_inputs_and_secrets(vermissian_up: EngineRun) -> None:
    admin = vermissian_up.one(ADMIN)
    inputs = unwrap(admin.inputs)
    assert inputs["email"] == "admin@husbuddies.gay" and inputs["username"] == "joshsymonds"
    assert inputs["token_lifetime_hours"] == 168
    assert is_secret_value(admin.inputs["password"])
    assert "token" in admin.additional_secret_outputs
    assert vermissian_up.outputs["adminToken"].secret
    assert vermissian_up.outputs["adminPassword"].secret
    assert not vermissian_up.outputs["adminUsername"].secret


def test_one_template_per_directory_with_variables_from_the_stack(vermissian_up: EngineRun) -> None:
    found = templates(vermissian_up)
    assert set(found) == {"docker-envbuilder", "docker-shell"}
    base_ref = vermissian_up.outputs["images"].value["base"]["ref"]
    for name, template in found.items():
        inputs = unwrap(template.inputs)
        assert inputs["directory"] == f"coder-templates/{name}"
        assert inputs["content_hash"].startswith("sha256:")
        assert inputs["variables"]["workspace_image"] == base_ref
        assert inputs["variables"]["workspace_user"] == "joshsymonds"
        assert inputs["variables"]["docker_socket"] == "unix:///run/podman/podman.sock"
        assert inputs["provisioner_tags"] == {}
        # The 1Password token is a sensitive variable, kept apart and secret.
        assert is_secret_value(template.inputs["secret_variables"])
        assert "op_service_account_token" in inputs["secret_variables"]
        assert "op_service_account_token" not in inputs["variables"]
        assert is_secret_value(template.inputs["admin_password"])
    assert unwrap(found["docker-shell"].inputs)["display_name"] == "egoengine shell"


def test_dev_passes_no_token_when_none_is_configured(dev_up: EngineRun) -> None:
    for template in templates(dev_up).values():
        assert unwrap(template.inputs)["secret_variables"] == {}


def test_template_outputs_are_active_version_ids(vermissian_up: EngineRun) -> None:
    versions = vermissian_up.outputs["templates"].value
    assert set(versions) == {"docker-envbuilder", "docker-shell"}
    assert all(v.startswith("version-") for v in versions.values())


def test_a_template_can_use_a_child_image_and_its_own_tags_and_variables() -> None:
    run = run_stack(
        "vermissian",
        overrides={
            "egoengine:templates": {
                "provisionerTags": {"scope": "organization"},
                "overrides": {
                    "docker-envbuilder": {
                        "workspaceImage": "creative-lab",
                        "provisionerTags": {"pool": "gpu"},
                        "variables": {"cache_repo": "ghcr.io/joshsymonds/envbuilder-cache"},
                    }
                },
            }
        },
    )
    found = templates(run)
    envbuilder = unwrap(found["docker-envbuilder"].inputs)
    assert envbuilder["variables"]["workspace_image"] == run.outputs["images"].value["creative-lab"]["ref"]
    assert envbuilder["variables"]["cache_repo"] == "ghcr.io/joshsymonds/envbuilder-cache"
    assert envbuilder["provisioner_tags"] == {"pool": "gpu"}
    assert unwrap(found["docker-shell"].inputs)["provisioner_tags"] == {"scope": "organization"}


def test_a_changed_template_file_changes_only_that_templates_hash(tmp_path, monkeypatch) -> None:
    import shutil

    from components import settings as cfg

    project = tmp_path / "project"
    shutil.copytree(cfg.PROJECT_ROOT / "coder-templates", project / "coder-templates")
    from components.settings import values

    monkeypatch.setattr(values, "PROJECT_ROOT", project)
    import components.egoengine as egoengine

    monkeypatch.setattr(egoengine, "PROJECT_ROOT", project)
    before = {n: unwrap(r.inputs)["content_hash"] for n, r in templates(run_stack("dev")).items()}
    main_tf = project / "coder-templates/docker-shell/main.tf"
    main_tf.write_text(main_tf.read_text() + "\n# a change\n")
    after = {n: unwrap(r.inputs)["content_hash"] for n, r in templates(run_stack("dev")).items()}
    assert before["docker-envbuilder"] == after["docker-envbuilder"]
    assert before["docker-shell"] != after["docker-shell"]
