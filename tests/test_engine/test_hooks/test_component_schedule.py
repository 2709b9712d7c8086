"""ComponentSchedule: start_epoch / stages / interval of label-pipeline
hooks and components; ScheduledComponent: build-time checks."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub

from mmvireid.engine.hooks import (AssociationHook, ComponentSchedule,
                                   ScheduledComponent, StageHook)
from mmvireid.models.task_modules import BaseRefiner, CMFPRefiner
from mmvireid.utils import register_all_modules

register_all_modules()

STAGES = dict(intra=0, cross=3)


def epochs(schedule, num=9, first_epochs=STAGES):
    """The epochs of 0..num-1 the schedule runs at, the stage being the
    one of ``first_epochs`` that each epoch falls in."""

    def stage_at(epoch):
        return [s for s, e in first_epochs.items() if e <= epoch][-1]

    return [
        e for e in range(num)
        if schedule.active_at(e, stage_at(e), first_epochs)
    ]


def test_start_epoch_and_interval():
    assert epochs(ComponentSchedule()) == list(range(9))
    assert epochs(ComponentSchedule(start_epoch=2)) == list(range(2, 9))
    assert epochs(ComponentSchedule(interval=3)) == [0, 3, 6]
    assert epochs(ComponentSchedule(start_epoch=2, interval=3)) == [2, 5, 8]


def test_stages_count_the_interval_from_the_stage_s_first_epoch():
    assert epochs(ComponentSchedule(stages='cross')) == list(range(3, 9))
    assert epochs(ComponentSchedule(stages=('intra', ))) == [0, 1, 2]
    assert epochs(ComponentSchedule(stages=('cross', ),
                                    interval=2)) == [3, 5, 7]
    assert epochs(ComponentSchedule(stages=('intra', 'cross'),
                                    interval=2)) == [0, 2, 3, 5, 7]
    assert not ComponentSchedule(stages=('cross', )).active_at(5, None)


@pytest.mark.parametrize('kwargs, error', [
    (dict(start_epoch=1, stages=('cross', )), 'give start_epoch or stages'),
    (dict(start_epoch=-1), 'start_epoch must be'),
    (dict(start_epoch=1.5), 'start_epoch must be'),
    (dict(interval=0), 'interval must be'),
    (dict(stages=()), 'stages must be'),
    (dict(stages=(1, )), 'stages must be'),
])
def test_bad_schedules(kwargs, error):
    with pytest.raises(ValueError, match=f'me: {error}'):
        ComponentSchedule(**kwargs, owner='me')


def test_schedule_configs():
    schedule = ComponentSchedule.from_cfg(
        dict(stages=('cross', ), interval=2), 'me')
    assert schedule.stages == ('cross', ) and schedule.interval == 2
    assert ComponentSchedule.from_cfg(None, 'me').active_at(0)
    with pytest.raises(
            ValueError, match=r"me: unknown schedule key\(s\) "
            r"\['every'\]"):
        ComponentSchedule.from_cfg(dict(every=2), 'me')
    with pytest.raises(TypeError, match='schedule must be a dict'):
        ComponentSchedule.from_cfg(3, 'me')


def test_stages_are_checked_against_the_stage_hook():
    hub = MessageHub(f'schedule_{id(STAGES)}')
    schedule = ComponentSchedule(stages=('cross', 'late'), owner='me')
    with pytest.raises(ValueError, match=r'me\(stages=.*needs a StageHook'):
        schedule.check(hub)
    hub.update_info('stages', STAGES)
    with pytest.raises(
            ValueError,
            match=r"me: stages \['late'\] are not "
            r"stages of the StageHook, which has \('intra', "
            r"'cross'\)"):
        schedule.check(hub)
    ComponentSchedule(stages=('cross', )).check(hub)
    ComponentSchedule(start_epoch=4).check(MessageHub('no_stages'))


def test_a_component_s_schedule_is_popped_before_building():
    scheduled = ScheduledComponent.build(
        dict(type='CMFPRefiner', k=3, schedule=dict(start_epoch=2)),
        BaseRefiner, 'owner')
    assert isinstance(scheduled.component, CMFPRefiner)
    assert scheduled.name == 'CMFPRefiner'
    assert scheduled.schedule.start_epoch == 2
    built = CMFPRefiner(k=4)
    scheduled = ScheduledComponent.build(built, BaseRefiner, 'owner', 'cmfp')
    assert scheduled.component is built and scheduled.name == 'cmfp'


@pytest.mark.parametrize('cfg, error, match', [
    (dict(type='CMFPRefiner', kk=3), TypeError, "owner: .*'kk'"),
    (dict(type='CMFPRefiner', k=0), ValueError, 'owner: CMFPRefiner: k'),
    (dict(type='NoSuchRefiner'), KeyError, 'owner: NoSuchRefiner is not'),
    (dict(type='OTAssociator'), TypeError, 'builds a OTAssociator, not a '
     'BaseRefiner'),
    ([dict(type='CMFPRefiner', k=3)], TypeError, 'a config dict'),
    (dict(type='CMFPRefiner', k=3,
          schedule=dict(epoch=2)), ValueError, 'unknown schedule key'),
])
def test_build_errors_name_the_owner_and_the_bad_value(cfg, error, match):
    with pytest.raises(error, match=match):
        ScheduledComponent.build(cfg, BaseRefiner, 'owner')


def fake_runner(epoch, modalities=('visible', 'infrared')):
    return SimpleNamespace(
        epoch=epoch,
        message_hub=MessageHub(f'component_schedule_{epoch}_{id(modalities)}'),
        train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(metainfo=dict(modalities=modalities))))


def test_association_hook_checks_its_components_before_training():
    """An unknown stage of a component's schedule, and a component's own
    check (CMFP on three modalities), fail in before_train, before any
    feature extraction."""
    runner = fake_runner(0)
    StageHook(dict(intra=dict(epoch=0),
                   cross=dict(epoch=3))).before_train(runner)
    late = AssociationHook(
        refiners=dict(
            cmfp=dict(
                type='CMFPRefiner', k=3, schedule=dict(stages=('late', )))))
    with pytest.raises(
            ValueError,
            match=r"AssociationHook refiners.cmfp: "
            r"stages \['late'\] are not stages"):
        late.before_train(runner)
    assoc_late = AssociationHook(
        associator=dict(type='OTAssociator', schedule=dict(stages='late')))
    with pytest.raises(
            ValueError, match='AssociationHook associator: '
            r"stages \['late'\]"):
        assoc_late.before_train(runner)
    cmfp = AssociationHook(refiners=dict(cmfp=dict(type='CMFPRefiner', k=3)))
    cmfp.before_train(runner)
    three = fake_runner(0, ('visible', 'infrared', 'augmented'))
    with pytest.raises(
            ValueError,
            match='AssociationHook refiners.cmfp: '
            'CMFPRefiner .* needs exactly two modalities'):
        cmfp.before_train(three)
