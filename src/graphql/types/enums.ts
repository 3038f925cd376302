// GraphQL enums mirror the Prisma enums one to one.
import {
  EnrollmentMode,
  EnrollmentStatus,
  GenerationStatus,
  MessageStatus,
  ReplyAction,
  ReplySentiment,
  ScheduleIntervalType,
  SequenceType,
  ShareType,
  SequenceStatus,
  StepRunStatus,
  StepType,
  StopConditionType,
  SubscriberStatus,
  TestClockStatus,
  TriggerType,
} from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';

export const SequenceStatusEnum = builder.enumType(SequenceStatus, { name: 'SequenceStatus' });
export const TriggerTypeEnum = builder.enumType(TriggerType, { name: 'TriggerType' });
export const EnrollmentModeEnum = builder.enumType(EnrollmentMode, { name: 'EnrollmentMode' });
export const StopConditionTypeEnum = builder.enumType(StopConditionType, { name: 'StopConditionType' });
export const ReplyActionEnum = builder.enumType(ReplyAction, { name: 'ReplyAction' });
export const StepTypeEnum = builder.enumType(StepType, { name: 'StepType' });
export const GenerationStatusEnum = builder.enumType(GenerationStatus, { name: 'GenerationStatus' });
export const SubscriberStatusEnum = builder.enumType(SubscriberStatus, { name: 'SubscriberStatus' });
export const EnrollmentStatusEnum = builder.enumType(EnrollmentStatus, { name: 'EnrollmentStatus' });
export const StepRunStatusEnum = builder.enumType(StepRunStatus, { name: 'StepRunStatus' });
export const MessageStatusEnum = builder.enumType(MessageStatus, { name: 'MessageStatus' });
export const ReplySentimentEnum = builder.enumType(ReplySentiment, { name: 'ReplySentiment' });
export const SequenceTypeEnum = builder.enumType(SequenceType, { name: 'SequenceType' });
export const ShareTypeEnum = builder.enumType(ShareType, { name: 'ShareType' });
export const ScheduleIntervalTypeEnum = builder.enumType(ScheduleIntervalType, { name: 'ScheduleIntervalType' });
export const TestClockStatusEnum = builder.enumType(TestClockStatus, { name: 'TestClockStatus' });
