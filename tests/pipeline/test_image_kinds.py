"""Whole-server, data-disk and exported images, through the real state machine."""

from ecs_imaging import ims
from ecs_imaging.session import CloudSession

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01, no data disk
FILES = "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64"  # files-04, stopped, two data disks
ERP = "6512bd43-d9ca-4a6e-8d2f-4d5e6f7a8b65"  # erp-05, running, CBR vault
VAULT = "a87ff679-a2f3-4e71-9181-5e6f7a8b9c66"


def test_data_disk_run_makes_one_tagged_image_per_data_disk(bench):
    result = bench.run({"server_id": FILES, "image_kind": "data-disks"})

    assert result.status == "SUCCEEDED", result.cause
    images = bench.emulator.images()
    assert len(result.output["image_ids"]) == 2
    assert sorted(i.id for i in images) == sorted(result.output["image_ids"])
    assert all(f"ecs-imaging-server={FILES}" in image.tags for image in images)
    assert sorted(image.name[-6:] for image in images) == ["-data1", "-data2"]


def test_data_disk_job_without_sub_job_results_finds_its_images_by_run_tag(bench):
    bench.emulator.faults.hide_next_sub_job_results()

    result = bench.run({"server_id": FILES, "image_kind": "data-disks"})

    assert result.status == "SUCCEEDED", result.cause
    assert sorted(result.output["image_ids"]) == sorted(i.id for i in bench.emulator.images())
    assert len(result.output["image_ids"]) == 2


def test_data_disk_runs_of_two_servers_with_one_image_name_make_an_image_each(bench):
    servers = [
        bench.emulator.add_server(name=name, status="SHUTOFF", system_disk_gb=5, data_disks_gb=[5])
        for name in ("nightly-a", "nightly-b")
    ]
    results = [
        bench.run(
            {"server_id": server_id, "image_kind": "data-disks", "image_name": "nightly"},
            name=f"run-{number}",
        )
        for number, server_id in enumerate(servers)
    ]

    run_ids = {
        event["detail"]["server_id"]: event["detail"]["run_id"]
        for event in bench.events()
        if event["detail-type"] == "Image Created"
    }
    images = {image.id: image for image in bench.emulator.images()}
    assert len(images) == 2
    for server_id, result in zip(servers, results, strict=True):
        [image_id] = result.output["image_ids"]
        assert f"ecs-imaging-server={server_id}" in images[image_id].tags
        assert f"ecs-imaging-run={run_ids[server_id]}" in images[image_id].tags


def test_data_disk_run_of_a_server_without_data_disks_is_skipped(bench):
    result = bench.run({"server_id": STOPPED, "image_kind": "data-disks"})

    assert result.status == "SUCCEEDED"
    assert result.output["outcome"] == "SKIPPED"
    assert "no data disk" in result.output["reason"]
    assert bench.emulator.images() == []


def test_whole_image_goes_through_the_cbr_vault(bench):
    result = bench.run({"server_id": ERP, "image_kind": "whole", "vault_id": VAULT})

    assert result.status == "SUCCEEDED", result.cause
    [image] = bench.emulator.images()
    assert image.id == result.output["image_id"]
    assert bench.emulator.counters["ecs.stop"] == 1
    assert result.output["server_restarted"] is True


def test_retention_deletes_a_whole_image_with_its_backup(bench):
    for number in range(2):
        bench.run(
            {
                "server_id": ERP,
                "image_kind": "whole",
                "vault_id": VAULT,
                "retention": {"keep_last": 1},
            },
            name=f"whole-{number}",
        )

    finalized = [i for i in bench.engine.invocations if i.function_name == "FinalizeRunFunction"]
    [deleted] = finalized[-1].result["deleted_images"]
    assert len(bench.emulator.images()) == 1
    assert deleted["backup_deleted"] is True
    assert [b.deleted for b in bench.emulator.backups()] == [True, False]


def test_keep_tagged_image_survives_retention(bench):
    first = bench.run({"server_id": STOPPED}, name="first")
    ims.add_image_tags(CloudSession(), first.output["image_id"], {"ecs-imaging-keep": "yes"})

    for number in range(2):
        bench.run({"server_id": STOPPED, "retention": {"keep_last": 1}}, name=f"r{number}")

    remaining = {image.id for image in bench.emulator.images()}
    assert first.output["image_id"] in remaining
    assert len(remaining) == 2


def test_export_runs_after_the_image_and_is_announced(bench):
    result = bench.run(
        {"server_id": STOPPED, "export": {"bucket": "ims-exports", "file_format": "qcow2"}}
    )

    assert result.status == "SUCCEEDED", result.cause
    export = result.output["export"]
    assert export["status"] == "SUCCESS"
    assert export["bucket_url"].startswith("ims-exports:web-01-")
    assert export["bucket_url"].endswith(".qcow2")
    assert len(bench.emulator.exports()) == 1
    assert bench.event_types() == ["Image Created", "Image Exported"]


def test_export_of_a_whole_image_is_refused_before_anything_changes(bench):
    result = bench.run(
        {"server_id": ERP, "image_kind": "whole", "export": {"bucket": "ims-exports"}}
    )

    assert result.error == "InvalidInput"
    assert "export is only possible for system images" in result.cause
    assert bench.emulator.counters["ecs.stop"] == 0
